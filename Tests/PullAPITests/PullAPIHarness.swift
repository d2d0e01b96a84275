import AsyncHTTPClient
import BankSyncCore
import Flowpay
import Foundation
import Hummingbird
import Logging
import NIOCore
import Postgres
import PullAPI
import Store
import TestSupport

/// The PULL API app on a free loopback port over a migrated test database, with one customer, an API key
/// and an HTTP client.
struct PullAPIHarness: Sendable {
    let database: TestDatabase
    let store: Store
    let port: Int
    let key: String
    let keyID: Int64
    let customerID: Int64
    let accountID: Int64
    let http: HTTPClient
    static let webhookSecret = "whsec-test"

    static func with<T>(requestsPerMinute: Int = 10_000, requestsPerMinutePerAddress: Int = 100_000,
                        _ body: (PullAPIHarness) async throws -> T) async throws -> T {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
            _ = try await Migrator(migrations: migrations).migrate(store.connection)
            let customerID = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "merchant-1", source: .gocardless, sourceRef: "r")
            let accountID = try await store.upsertAccount(customerID: customerID, BankAccount(sourceAccountID: "a1", iban: "CZ6508000000192000145399",
                                                                                         bic: "GIBACZPX", currency: "CZK"))
            let (keyID, key) = try store.createAPIKey(label: "test")
            let pool = ConnectionPool(connectionString: database.connectionString, size: 4)
            let logger = Logger(label: "pull-test")
            let webhooks = WebhookProcessor(pool: pool, verifier: WebhookVerifier(secret: webhookSecret), logger: logger)
            var settings = PullAPI.Settings(expectedSchemaVersion: migrations.last!.version)
            settings.requestsPerMinute = requestsPerMinute
            settings.requestsPerMinutePerAddress = requestsPerMinutePerAddress
            let api = PullAPI(pool: pool, webhooks: webhooks, settings: settings, logger: logger)
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(router: api.router(), server: api.httpServer, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() })
            let server = Task { try await app.run() }
            let processor = Task { try await webhooks.run() }
            var port = 0
            for await bound in stream { port = bound }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let harness = PullAPIHarness(database: database, store: store, port: port, key: key, keyID: keyID, customerID: customerID,
                                         accountID: accountID, http: http)
            defer { server.cancel(); processor.cancel() }
            do {
                let result = try await body(harness)
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
        let json: [String: Any]
    }

    func get(_ path: String, key: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let key = key ?? self.key as String? { request.headers.add(name: "X-API-Key", value: key) }
        return try await send(request)
    }

    func getWithoutKey(_ path: String) async throws -> Answer {
        try await send(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"))
    }

    func send(_ request: HTTPClientRequest) async throws -> Answer {
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, json: json)
    }

    func ingest(_ count: Int, salt: String, connection: PostgresConnection) async throws {
        let today = Day(iso: "2026-11-25")!
        let czk = try Currency(code: "CZK")
        // Each call's rows are new bookings, not the bank's edits of earlier ones: their own amounts.
        let base = Int64(stableNumber(salt) % 1_000_000) * 1_000
        let rows = (0..<count).map {
            BankTransaction(status: .booked, bookingDate: today.adding(days: -($0 % 20)), amount: Money(minorUnits: -base - Int64($0) - 1, currency: czk),
                            remittance: "\(salt) \($0)")
        }
        _ = try await Store(connection: connection).ingest(account: AccountRef(id: accountID, customerID: customerID),
                                                           window: SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: false),
                                                           sourceIDsAreStable: false, pages: pages([rows]))
    }
}
