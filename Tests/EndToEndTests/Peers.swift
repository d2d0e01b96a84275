import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Store
import TestSupport

/// All three sandbox peers on loopback, a migrated database, and the environment a `banksync` child
/// process needs to use them — the same wiring as the demo.
struct EndToEnd {
    let database: TestDatabase
    let flowpay: FlowpaySandboxState
    let goCardless: GoCardlessSandboxState
    let berlinGroup: BerlinGroupSandboxState
    let environment: [String: String]
    let berlinGroupURL: String
    let today: Day

    /// `today` is the day the sandboxes and the `banksync` children treat as today: fixed for the whole test.
    static func with<T>(today: Day = TestCalendar.today, server: String? = nil, _ body: (EndToEnd) async throws -> T) async throws -> T {
        try await TestDatabase.with(server: server) { database in
            let flowpay = FlowpaySandboxState(clientID: "e2e-client", clientSecret: "e2e-secret", today: today)
            let goCardless = GoCardlessSandboxState(secretID: "e2e-id", secretKey: "e2e-key", today: today)
            let berlinGroup = BerlinGroupSandboxState(today: today)
            let (fpPort, fp) = try await startServer(router: FlowpaySandbox.router(state: flowpay), name: "e2e-flowpay")
            let (gcPort, gc) = try await startServer(router: GoCardlessSandbox.router(state: goCardless, publicURL: { "http://127.0.0.1" }), name: "e2e-gc")
            let (bgPort, bg) = try await startServer(router: BerlinGroupSandbox.router(state: berlinGroup, publicURL: { "http://127.0.0.1" }), name: "e2e-bg")
            defer { [fp, gc, bg].forEach { $0.cancel() } }
            let environment = [
                "DATABASE_URL": database.connectionString,
                "FLOWPAY_API_URL": "http://127.0.0.1:\(fpPort)", "FLOWPAY_TOKEN_URL": "http://127.0.0.1:\(fpPort)/oauth/token",
                "FLOWPAY_CLIENT_ID": "e2e-client", "FLOWPAY_CLIENT_SECRET": "e2e-secret",
                "GOCARDLESS_API_URL": "http://127.0.0.1:\(gcPort)", "GOCARDLESS_SECRET_ID": "e2e-id", "GOCARDLESS_SECRET_KEY": "e2e-key",
                "BANKSYNC_TODAY": today.description,
            ]
            let migrate = try await BankSyncProcess.run(["migrate"], environment: environment)
            guard migrate.status == 0 else { throw E2EError.setup(migrate.stderr) }
            return try await body(EndToEnd(database: database, flowpay: flowpay, goCardless: goCardless, berlinGroup: berlinGroup,
                                           environment: environment, berlinGroupURL: "http://127.0.0.1:\(bgPort)", today: today))
        }
    }

    /// Registers `count` GoCardless customers (each its own linked requisition) through the CLI.
    func addGoCardlessCustomers(_ count: Int, accountsEach: Int = 1, prefix: String = "gc") async throws -> [UUID] {
        var ids: [UUID] = []
        for index in 0..<count {
            let requisition = "\(prefix)-req-\(index)"
            await goCardless.makeLinkedRequisition(id: requisition, institution: "SANDBOXFINANCE_SFIN0000", accountCount: accountsEach)
            let id = UUID()
            let added = try await run(["customers", "add", "--flowpay-id", id.uuidString, "--merchant-id", "\(prefix)-merchant-\(index)",
                                       "--source", "gocardless", "--requisition", requisition])
            guard added.status == 0 else { throw E2EError.setup(added.stderr) }
            ids.append(id)
        }
        return ids
    }

    /// Registers one customer over a new linked requisition at `institution`; returns it and its accounts' ids.
    func addGoCardlessCustomer(requisition: String, institution: String = "SANDBOXFINANCE_SFIN0000", accounts: Int = 1,
                               merchant: String) async throws -> (customer: UUID, accounts: [String]) {
        let accountIDs = await goCardless.makeLinkedRequisition(id: requisition, institution: institution, accountCount: accounts)
        let id = UUID()
        let added = try await run(["customers", "add", "--flowpay-id", id.uuidString, "--merchant-id", merchant,
                                   "--source", "gocardless", "--requisition", requisition])
        guard added.status == 0 else { throw E2EError.setup(added.stderr) }
        return (id, accountIDs)
    }

    func addBerlinGroupCustomer(consent: String, merchant: String) async throws -> UUID {
        await berlinGroup.makeValidConsent(id: consent, accountCount: 1)
        let id = UUID()
        let added = try await run(["customers", "add", "--flowpay-id", id.uuidString, "--merchant-id", merchant, "--source", "berlingroup",
                                   "--consent", consent, "--bank-url", berlinGroupURL])
        guard added.status == 0 else { throw E2EError.setup(added.stderr) }
        return id
    }

    func run(_ arguments: [String]) async throws -> BankSyncProcess.Outcome {
        try await BankSyncProcess.run(arguments, environment: environment)
    }

    /// Runs `banksync` as of `day`, with every sandbox peer moved to the same day first.
    func run(_ arguments: [String], on day: Day) async throws -> BankSyncProcess.Outcome {
        await flowpay.setToday(day)
        await goCardless.setToday(day)
        await berlinGroup.setToday(day)
        var environment = environment
        environment["BANKSYNC_TODAY"] = day.description
        return try await BankSyncProcess.run(arguments, environment: environment)
    }

    func connect() throws -> PostgresConnection { try database.connect() }

    /// Every booked transaction stored reached Flowpay exactly once.
    func assertExactlyOnce() async throws -> (stored: Int, received: Int, distinct: Int) {
        let connection = try connect()
        defer { connection.close() }
        let stored = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
        let snapshot = await flowpay.snapshot()
        let received = snapshot.transactions.values.flatMap { $0 }
        return (stored, received.count, Set(received.map { $0.id + "|" + $0.iban }).count)
    }
}

enum E2EError: Error { case setup(String) }
