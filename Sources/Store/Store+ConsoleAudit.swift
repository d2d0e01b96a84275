import Foundation
import Postgres

/// One console action as the audit log keeps it.
public struct ConsoleAuditEntry: Sendable, Equatable {
    public var id: Int64 = 0
    public var at = Date()
    public var who: String
    public var role: String
    public var action: String
    public var target: String
    public var reason: String?
    public var before: String?
    public var after: String?
    public var outcome: String
    public var command: String

    public init(who: String, role: String, action: String, target: String, reason: String?, before: String?, after: String?,
                outcome: String, command: String) {
        self.who = who
        self.role = role
        self.action = action
        self.target = target
        self.reason = reason
        self.before = before
        self.after = after
        self.outcome = outcome
        self.command = command
    }
}

extension Store {
    @discardableResult
    public func recordConsoleAudit(_ entry: ConsoleAuditEntry) throws -> Int64 {
        try connection.queryValue(Int64.self, """
            INSERT INTO console_audit (who, role, action, target, reason, before, after, outcome, command)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
            """, [entry.who, entry.role, entry.action, entry.target, entry.reason, entry.before, entry.after, entry.outcome, entry.command])
    }

    /// The audit log, newest first, one keyset page: entries with an id below `before` (all when nil).
    public func consoleAudit(before: Int64?, limit: Int) throws -> [ConsoleAuditEntry] {
        try connection.query("""
            SELECT id, at, who, role, action, target, reason, before, after, outcome, command FROM console_audit
            WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2
            """, [before, limit]).map { row in
            var entry = ConsoleAuditEntry(who: try row.decode(at: 2), role: try row.decode(at: 3), action: try row.decode(at: 4),
                                          target: try row.decode(at: 5), reason: try row.decode(at: 6), before: try row.decode(at: 7),
                                          after: try row.decode(at: 8), outcome: try row.decode(at: 9), command: try row.decode(at: 10))
            entry.id = try row.decode(at: 0)
            entry.at = try row.decode(at: 1)
            return entry
        }
    }
}
