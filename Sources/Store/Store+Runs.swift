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

    /// Connections the server can still accept from ordinary roles: what a run may open without starving the
    /// others (serve, ops, a second worker) is bounded by it.
    public func freeConnections() throws -> Int {
        let row = try require(try connection.query("""
            SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
                   - COALESCE(current_setting('reserved_connections', true)::int, 0)
                   -- another role's sessions show a NULL backend_type to a role without pg_read_all_stats
                   - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' OR backend_type IS NULL)::int
            """).first, "free connections")
        return try row.decode(at: 0)
    }
}
