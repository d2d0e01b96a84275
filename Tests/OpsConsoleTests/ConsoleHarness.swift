import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import OpsConsole
import Postgres
import PullAPI
import Store
import TestSupport

/// The ops console on a free loopback port over a migrated test database with one customer, and an HTTP client.
struct ConsoleHarness: Sendable {
    let store: Store
    let port: Int
    let http: HTTPClient
    let customer: UUID
    static let key = "break-glass-key-for-the-tests-0123456789"

    var origin: String { "http://127.0.0.1:\(port)" }

    static func with<T>(mode: ConsoleSettings.Mode = .operate, trusted: String? = "127.0.0.1",
                        _ body: (ConsoleHarness) async throws -> T) async throws -> T {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
            _ = try await Migrator(migrations: migrations).migrate(store.connection)
            let customer = UUID()
            _ = try store.addCustomer(flowpayCustomerID: customer, merchantID: "merchant-<b>", source: .gocardless, sourceRef: "r")
            var settings = ConsoleSettings()
            settings.mode = mode
            settings.trustedProxies = try trusted.map { try TrustedProxies(parsing: $0) } ?? .none
            settings.breakGlassKeyHash = ConsoleSettings.hash(key: key)
            let pool = ConnectionPool(connectionString: database.connectionString, size: 2)
            let console = OpsConsole(pool: pool, settings: settings, logger: Logger(label: "console-test"))
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(router: console.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() })
            let server = Task { try await app.run() }
            var port = 0
            for await bound in stream { port = bound }
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            defer { server.cancel() }
            do {
                let result = try await body(ConsoleHarness(store: store, port: port, http: http, customer: customer))
                try await http.shutdown()
                await pool.close()
                return result
            } catch {
                try? await http.shutdown()
                await pool.close()
                throw error
            }
        }
    }

    struct Answer {
        let status: Int
        let headers: [(String, String)]
        let body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    static func user(_ name: String, _ role: String) -> [(String, String)] {
        [("X-Forwarded-User", name), ("X-Forwarded-Groups", "staff, banksync-\(role)")]
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: origin + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request)
    }

    func post(_ path: String, form: [String: String], headers: [(String, String)]) async throws -> Answer {
        var request = HTTPClientRequest(url: origin + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    func send(_ request: HTTPClientRequest) async throws -> Answer {
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: String(buffer: body))
    }

    /// The form token on a page the identity sees (its first form).
    func formToken(_ path: String, headers: [(String, String)]) async throws -> String? {
        let page = try await get(path, headers: headers).body
        guard let range = page.range(of: "name=\"form_token\" value=\"") else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    func auditOutcomes() throws -> [(who: String, action: String, outcome: String)] {
        try store.connection.query("SELECT who, action, outcome FROM console_audit ORDER BY id").map {
            (try $0.decode(at: 0), try $0.decode(at: 1), try $0.decode(at: 2))
        }
    }
}
