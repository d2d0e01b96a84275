import Foundation
import Postgres

/// A fresh, empty database on the test server (`DATABASE_URL`, started by scripts/test), dropped afterwards.
public struct TestDatabase: Sendable {
    public let name: String
    public let connectionString: String

    public static var serverURL: String {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            fatalError("DATABASE_URL is not set: run the tests through scripts/test, which starts a PostgreSQL server")
        }
        return url
    }

    /// Creates a uniquely named database, runs `body`, and drops it (also when `body` throws).
    /// The body runs on its own blocking-I/O executor (see `BlockingIOExecutor`), like production code.
    /// `server`: another server's conninfo (a `PrivatePostgres`) instead of the suite's.
    public static func with<T>(server: String? = nil, _ body: (TestDatabase) async throws -> T) async throws -> T {
        try await withBlockingIOExecutor("test-database") { try await withDatabase(server: server ?? serverURL, body) }
    }

    static func withDatabase<T>(server: String, _ body: (TestDatabase) async throws -> T) async throws -> T {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        let admin = try PostgresConnection.connect(server)
        defer { admin.close() }
        // CREATE DATABASE takes no parameters; the name is generated here from hex digits only.
        try admin.execute("CREATE DATABASE \(name)")
        defer {
            // The server may have restarted under the test: drop on a connection of its own.
            if let cleanup = try? PostgresConnection.connect(server) {
                _ = try? cleanup.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                cleanup.close()
            }
        }
        return try await body(TestDatabase(name: name, connectionString: connectionString(for: name, on: server)))
    }

    /// The server's connection string pointed at database `name` (conninfo: a later keyword wins).
    static func connectionString(for name: String, on server: String) -> String {
        guard server.contains("://"), var components = URLComponents(string: server) else {
            return server + " dbname=\(name)"
        }
        components.path = "/" + name
        return components.string ?? server
    }

    public func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(connectionString)
    }
}
