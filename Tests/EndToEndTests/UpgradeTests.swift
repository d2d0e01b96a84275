import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// An operator upgrades from the previous release. `Tests/Fixtures/upgrade-from-0019.sql.gz` is a database that
/// release's own banksync produced against its own sandbox (two GoCardless customers, a bank with stable ids and one
/// without, backfilled on 2026-11-19 and synced on 2026-11-20; `scripts/make-upgrade-fixture 92fac3a` made it).
/// This build migrates it and syncs the following days against the same synthetic banks: no stored booking is sent
/// again, no Flowpay id changes, and only the new days' bookings arrive, once each.
@Suite(.serialized) struct UpgradeTests {
    @Test func aDatabaseOfThePreviousReleaseUpgradesWithoutResendingOrRekeying() async throws {
        try await EndToEnd.with(today: Day(iso: "2026-11-21")!) { e2e in
            let connection = try e2e.connect()
            defer { connection.close() }
            try connection.execute("DROP SCHEMA public CASCADE")
            try connection.execute("CREATE SCHEMA public")
            let fixture = BankSyncProcess.packageRoot.appendingPathComponent("Tests/Fixtures/upgrade-from-0019.sql.gz").path
            let psql = try PrivatePostgres.binariesDirectory().appendingPathComponent("psql").path
            let load = try await BankSyncProcess.runTool("/bin/sh", ["-c", "gunzip -c \"$0\" | \"$1\" -q -v ON_ERROR_STOP=1 -d \"$2\"",
                                                                     fixture, psql, e2e.database.connectionString], environment: [:])
            #expect(load.status == 0, "\(load.stderr)")
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 19)
            let before = try storedIDs(connection)
            #expect(before.count > 500)

            let migrate = try await e2e.run(["migrate"])
            #expect(migrate.status == 0, "\(migrate.stderr)")
            await e2e.goCardless.seedDemo()
            for offset in 0...1 {
                let sync = try await e2e.run(["sync", "--min-interval", "0"], on: e2e.today.adding(days: offset))
                #expect(sync.status == 0, "\(sync.stdout) \(sync.stderr)")
            }

            let after = try storedIDs(connection)
            for (key, id) in before {
                #expect(after[key] == id, "the booking stored as \(id) kept its Flowpay id")
            }
            let received = await e2e.flowpay.snapshot().transactions.values.flatMap { $0 }.map(\.id)
            #expect(Set(received).count == received.count, "nothing sent twice")
            #expect(Set(received).isDisjoint(with: Set(before.values)), "no booking of the previous release sent again")
            #expect(received.count == after.count - before.count, "every new booking sent once")
            #expect(received.count > 0, "the new days brought bookings")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM held_transactions") == 0)
        }
    }

    /// Booked rows by source id or content key (what identifies a booking across the upgrade) → Flowpay id.
    private func storedIDs(_ connection: PostgresConnection) throws -> [String: String] {
        var ids: [String: String] = [:]
        for row in try connection.query("""
            SELECT account_id::text || ' ' || COALESCE(source_tx_id, encode(content_key, 'hex')), flowpay_id FROM transactions WHERE status = 'booked'
            """) {
            ids[try row.decode(String.self, at: 0)] = try row.decode(String.self, at: 1)
        }
        return ids
    }
}
