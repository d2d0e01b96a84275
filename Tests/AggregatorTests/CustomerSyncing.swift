import Foundation
import Logging
import Sandbox
import Store
import SyncEngine
import Testing
import TestSupport

/// What suites that run `CustomerSync` against the sandbox peers share: a migrated store and one customer's sync.
protocol CustomerSyncing {}

extension CustomerSyncing {
    func migratedStore(_ database: TestDatabase) async throws -> Store {
        let store = Store(connection: try database.connect())
        _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
        return store
    }

    func sync(_ store: Store, _ peers: SandboxPeers, _ customerID: Int64) async throws -> CustomerOutcome {
        let sources = SourceFactory(goCardless: peers.goCardlessConfiguration)
        let record = try #require(try store.customer(id: customerID))
        let outcome = await CustomerSync(store: store, sources: sources, flowpay: nil, overlapDays: 7, today: today,
                                         logger: Logger(label: "test")).sync(record, runID: try store.startRun(worker: "test").id)
        await sources.shutdown()
        return outcome
    }
}
