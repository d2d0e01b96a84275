import Foundation
import Postgres

extension Store {
    /// Opens a `sync_runs` row; returns its id and the database's start time (the claim horizon).
    public func startRun(worker: String) throws -> (id: Int64, startedAt: Date) {
        let row = try require(try connection.query("INSERT INTO sync_runs (worker) VALUES ($1) RETURNING id, started_at", [worker]).first, "start run")
        return (try row.decode(at: 0), try row.decode(at: 1))
    }

    public func finishRun(id: Int64, status: String, counts: String, error: String?) throws {
        try connection.execute("""
            UPDATE sync_runs SET finished_at = now(), status = $2, counts = $3::jsonb, error = $4 WHERE id = $1
            """, [id, status, JSONText(counts), error])
    }
}
