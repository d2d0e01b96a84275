import Crypto
import Foundation
import Postgres

/// A console role, weakest first: each one may do what the ones before it may.
public enum ConsoleRole: String, Sendable, CaseIterable, Comparable {
    case viewer, `operator`, approver

    public static func < (lhs: ConsoleRole, rhs: ConsoleRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A signed-in break-glass session (the console API key exchanged on the sign-in form).
public struct ConsoleSession: Sendable, Equatable {
    public var who: String
    public var role: ConsoleRole
    public var formToken: String
    public var expiresAt: Date
}

extension Store {
    /// Stores a session under the SHA-256 of its cookie value (the value itself is never stored).
    public func createConsoleSession(cookieValue: String, who: String, role: ConsoleRole, formToken: String, lifetime: TimeInterval) throws {
        try connection.execute("""
            INSERT INTO console_sessions (token_hash, who, role, form_token, expires_at)
            VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
            """, [Self.sessionHash(cookieValue), who, role.rawValue, formToken, lifetime])
        // Expired sessions are removed as new ones start (and by serve's housekeeping): the table stays as small as
        // the number of live sessions.
        try deleteExpiredConsoleSessions()
    }

    /// Removes every expired session; returns how many.
    @discardableResult
    public func deleteExpiredConsoleSessions() throws -> Int {
        try connection.execute("DELETE FROM console_sessions WHERE expires_at <= now()")
    }

    /// The live session a cookie names, nil when unknown or expired.
    public func consoleSession(cookieValue: String) throws -> ConsoleSession? {
        try connection.query("""
            SELECT who, role, form_token, expires_at FROM console_sessions WHERE token_hash = $1 AND expires_at > now()
            """, [Self.sessionHash(cookieValue)]).first.flatMap { row in
            guard let role = ConsoleRole(rawValue: try row.decode(String.self, at: 1)) else { return nil }
            return ConsoleSession(who: try row.decode(at: 0), role: role, formToken: try row.decode(at: 2), expiresAt: try row.decode(at: 3))
        }
    }

    public func endConsoleSession(cookieValue: String) throws {
        try connection.execute("DELETE FROM console_sessions WHERE token_hash = $1", [Self.sessionHash(cookieValue)])
    }

    static func sessionHash(_ cookieValue: String) -> [UInt8] { Array(SHA256.hash(data: Data(cookieValue.utf8))) }
}
