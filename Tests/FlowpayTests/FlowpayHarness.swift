import AsyncHTTPClient
import BankSyncCore
import Flowpay
import Foundation
import NIOCore
import Postgres
import Sandbox
import Store
import SyncEngine
import TestSupport

/// The Flowpay sandbox on a free loopback port, plus a client configured against it.
struct FlowpayHarness {
    let state: FlowpaySandboxState
    let port: Int
    let server: SandboxServer
    let http: HTTPClient

    static let clientID = "test-client"
    static let clientSecret = "test-secret-\(UUID())"

    static func start() async throws -> FlowpayHarness {
        let state = FlowpaySandboxState(clientID: clientID, clientSecret: clientSecret, today: TestCalendar.today)
        let (port, server) = try await startServer(router: FlowpaySandbox.router(state: state), name: "flowpay-test")
        let configuration = FlowpayHarness.configuration(port: port)
        return FlowpayHarness(state: state, port: port, server: server, http: FlowpayClient.makeHTTPClient(configuration))
    }

    static func configuration(port: Int) -> FlowpayConfiguration {
        FlowpayConfiguration(apiURL: "http://127.0.0.1:\(port)", tokenURL: "http://127.0.0.1:\(port)/oauth/token",
                             audience: "https://api.test.partner.flowpay.io", clientID: clientID, clientSecret: clientSecret,
                             retry: RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200), maxTotal: .seconds(90)))
    }

    var configuration: FlowpayConfiguration { Self.configuration(port: port) }

    var client: FlowpayClient { FlowpayClient(configuration: configuration, http: http) }

    /// The environment a `banksync push` child process needs to reach this sandbox.
    func environment(databaseURL: String) -> [String: String] {
        ["DATABASE_URL": databaseURL, "FLOWPAY_API_URL": configuration.apiURL, "FLOWPAY_TOKEN_URL": configuration.tokenURL,
         "FLOWPAY_CLIENT_ID": Self.clientID, "FLOWPAY_CLIENT_SECRET": Self.clientSecret]
    }

    func stop() async throws {
        try await http.shutdown()
        server.cancel()
    }

    func inject(_ json: String) async throws {
        await state.inject(try JSONDecoder().decode(FlowpaySandboxState.Fault.self, from: Data(json.utf8)))
    }

    static func with<T>(_ body: (FlowpayHarness) async throws -> T) async throws -> T {
        let harness = try await start()
        do {
            let result = try await body(harness)
            try await harness.stop()
            return result
        } catch {
            try? await harness.stop()
            throw error
        }
    }
}

/// A migrated database with customers whose accounts and booked transactions are queued for push.
struct PushFixture {
    let store: Store
    var targets: [PushTarget] = []

    static func make(_ database: TestDatabase) async throws -> PushFixture {
        let store = Store(connection: try database.connect())
        let migrations = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
        _ = try await Migrator(migrations: migrations).migrate(store.connection)
        return PushFixture(store: store)
    }

    /// Adds a customer with one account and `count` new booked transactions (spread over recent days).
    mutating func addCustomer(transactions count: Int) async throws -> PushTarget {
        let flowpayID = UUID()
        let customerID = try store.addCustomer(flowpayCustomerID: flowpayID, merchantID: "m-\(flowpayID)", source: .gocardless, sourceRef: "r")
        let czk = try Currency(code: "CZK")
        let accountID = try await store.upsertAccount(customerID: customerID, BankAccount(
            sourceAccountID: "acc-\(flowpayID)", iban: "CZ6508000000192000145399", bic: "GIBACZPXXXX", currency: "CZK", name: "Business",
            ownerName: "ACME s.r.o.", balances: [Balance(kind: .closingBooked, amount: Money(minorUnits: 12_503_450, currency: czk), referenceDate: Day(iso: "2026-11-24")!)]))
        let target = PushTarget(customerID: customerID, flowpayCustomerID: flowpayID)
        targets.append(target)
        try await addTransactions(count, accountID: accountID, customerID: customerID, salt: "first")
        return target
    }

    func addTransactions(_ count: Int, accountID: Int64, customerID: Int64, salt: String) async throws {
        let today = Day(iso: "2026-11-25")!
        let czk = try Currency(code: "CZK")
        // Each call's rows are new bookings, not the bank's edits of earlier ones: their own amounts.
        let base = Int64(stableNumber(salt) % 1_000_000) * 1_000
        let rows = (0..<count).map { index in
            BankTransaction(status: .booked, bookingDate: today.adding(days: -(index % 60)), valueDate: nil,
                            amount: Money(minorUnits: -base - 1000 - Int64(index), currency: czk), counterpartyName: "Shop \(index % 7)",
                            remittance: "\(salt) \(index)")
        }
        let window = SyncWindow(from: today.adding(days: -100), to: today, isFirstSync: false)
        _ = try await store.ingest(account: AccountRef(id: accountID, customerID: customerID), window: window,
                                   sourceIDsAreStable: false, pages: pages([rows]))
    }

    func accountID(of target: PushTarget) throws -> Int64 {
        try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE customer_id = $1", [target.customerID])
    }

    func count(_ condition: String, _ target: PushTarget) throws -> Int {
        // Test-only: `condition` is a literal from the test source.
        try store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE customer_id = $1 AND " + condition, [target.customerID])
    }
}
