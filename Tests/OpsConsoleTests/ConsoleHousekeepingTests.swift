import AsyncHTTPClient
import Foundation
import Logging
import OpsConsole
import Postgres
import PullAPI
import Store
import Testing
import TestSupport

/// Small defects of the first console: HEAD on a page answers as GET does without the body (it was 404), and
/// expired sessions are deleted by serve's housekeeping, not only when someone signs in again.
@Suite struct ConsoleHousekeepingTests {
    @Test func headAnswersLikeGetWithoutTheBody() async throws {
        try await ConsoleHarness.with { console in
            let approver = ConsoleHarness.user("alice", "approver")
            for path in ["/console", "/console/customers", "/console/customers/\(console.customer.uuidString.lowercased())", "/console/audit"] {
                var request = HTTPClientRequest(url: console.origin + path)
                request.method = .HEAD
                for (name, value) in approver { request.headers.add(name: name, value: value) }
                let head = try await console.send(request)
                let get = try await console.get(path, headers: approver)
                #expect(head.status == 200 && get.status == 200, "\(path): HEAD \(head.status), GET \(get.status)")
                #expect(head.body.isEmpty && !get.body.isEmpty, "\(path)")
                #expect(head.header("Content-Security-Policy") == get.header("Content-Security-Policy"))
                #expect(head.header("Content-Type") == get.header("Content-Type"))
            }
            var unknown = HTTPClientRequest(url: console.origin + "/console/nothing-here")
            unknown.method = .HEAD
            let missing = try await console.send(unknown)
            #expect(missing.status == 404 && missing.body.isEmpty)
            var anonymous = HTTPClientRequest(url: console.origin + "/console")
            anonymous.method = .HEAD
            let redirect = try await console.send(anonymous)
            #expect((300..<400).contains(redirect.status) && redirect.header("Location") == "/console/sign-in")
        }
    }

    @Test func housekeepingDeletesExpiredSessionsAndKeepsLiveOnes() async throws {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            defer { store.connection.close() }
            _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
            try store.createConsoleSession(cookieValue: "live", who: "a", role: .viewer, formToken: "t1", lifetime: 3600)
            try store.createConsoleSession(cookieValue: "old", who: "b", role: .viewer, formToken: "t2", lifetime: 3600)
            try store.connection.execute("UPDATE console_sessions SET expires_at = now() - interval '1 minute' WHERE who = 'b'")
            let pool = ConnectionPool(connectionString: database.connectionString, size: 1)
            await ConsoleHousekeeping(pool: pool, logger: Logger(label: "test")).sweep()
            await pool.close()
            #expect(try store.connection.query("SELECT who FROM console_sessions").map { try $0.decode(String.self, at: 0) } == ["a"])
            #expect(try store.consoleSession(cookieValue: "live") != nil)
        }
    }
}
