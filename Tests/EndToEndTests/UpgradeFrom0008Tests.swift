import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Store
import Testing
import TestSupport

/// An operator upgrades a database of the 0008 era — the last release before migration 0009, whose mapping read less
/// of a GoCardless row (no `bban`, `other.identification` or `maskedPan` counterparty, no
/// `remittanceInformationStructuredArray`, no `valueDateTime`). `Tests/Fixtures/upgrade-from-0008.sql.gz` is a
/// database that release's own banksync produced (`scripts/make-upgrade-fixture-0008 12ae0b7`): two GoCardless
/// customers whose banks serve every such field shape, one with stable transaction ids and one without, backfilled on
/// 2026-11-19 and synced on 2026-11-20. Migration 0009 computed content keys from the columns that release stored;
/// this build's worker maps the stored rows again from their raw JSON (MappingUpgrade) before it reads the banks again.
/// Two syncs later, each reading deeper than the daily window: no booking sent twice, no Flowpay id changed, every
/// booking stored once.
@Suite(.serialized) struct UpgradeFrom0008Tests {
    static let fixtureDay = Day(iso: "2026-11-20")!

    @Test func a0008EraDatabaseUpgradesWithoutResendingOrRekeying() async throws {
        try await EndToEnd.with(today: Self.fixtureDay.adding(days: 1)) { e2e in
            let connection = try e2e.connect()
            defer { connection.close() }
            try connection.execute("DROP SCHEMA public CASCADE")
            try connection.execute("CREATE SCHEMA public")
            let fixture = BankSyncProcess.packageRoot.appendingPathComponent("Tests/Fixtures/upgrade-from-0008.sql.gz").path
            let psql = try PrivatePostgres.binariesDirectory().appendingPathComponent("psql").path
            let load = try await BankSyncProcess.runTool("/bin/sh", ["-c", "gunzip -c \"$0\" | \"$1\" -q -v ON_ERROR_STOP=1 -d \"$2\"",
                                                                     fixture, psql, e2e.database.connectionString], environment: [:])
            #expect(load.status == 0, "\(load.stderr)")
            #expect(try connection.queryValue(Int.self, "SELECT max(version) FROM schema_migrations") == 8)

            let migrate = try await e2e.run(["migrate"])
            #expect(migrate.status == 0, "\(migrate.stderr)")
            // The ids the old release sent (migration 0009 stored them with the rows: "bs_" + the old key's first half).
            let before = try bookedIDs(connection)
            #expect(before.count > 200)
            await e2e.goCardless.seedDemo()
            // Two daily syncs, each a deep read (an operator's after an incident, the weekly one): the banks filter by value
            // date, so rows booked before each window come back too.
            for (offset, depth) in [(0, 30), (1, 60)] {
                let sync = try await e2e.run(["sync", "--min-interval", "0", "--rescan-days", "\(depth)"], on: e2e.today.adding(days: offset))
                #expect(sync.status == 0, "\(sync.stdout) \(sync.stderr)")
            }

            let after = try bookedIDs(connection)
            for (id, booking) in before {
                #expect(after[id] == booking, "the booking sent as \(id) kept its Flowpay id")
            }
            let received = await e2e.flowpay.snapshot().transactions.values.flatMap { $0 }.map(\.id)
            #expect(Set(received).count == received.count, "nothing sent twice")
            let sentBefore = Set(before.keys.map { String($0.split(separator: " ")[1]) })
            #expect(Set(received).isDisjoint(with: sentBefore), "no booking of the old release sent again")
            #expect(received.count == after.count - before.count, "every new booking sent once")
            #expect(received.count > 0, "the new days brought bookings")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM held_transactions") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'remap_collision'") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM retired_tx_keys") > 0, "the old mapping's keys were replaced")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE mapping_version IS NULL") == 0)

            // Every booking the banks show stored exactly once, day by day, from the first whole day stored (the banks filter
            // by value date: the days before the first window are partly returned).
            let lastDay = e2e.today.adding(days: 1)
            for requisition in ["sandbox-req-fields-1", "sandbox-req-fields-2"] {
                for (iban, bank) in await e2e.goCardless.bankAccounts(ofRequisition: requisition) {
                    let first = try #require(try storedBookings(connection, iban: iban).keys.map(\.day).min()).adding(days: 3)
                    let stored = try storedBookings(connection, iban: iban).filter { $0.key.day >= first }
                    var expected: [Booking: Int] = [:]
                    var day = first
                    while day <= lastDay {
                        for transaction in bank.transactions(bookedOn: day) where transaction.visibleFrom <= lastDay && bank.valueDay(of: transaction) <= lastDay {
                            expected[Booking(day: day, amountMinor: transaction.amountMinor), default: 0] += 1
                        }
                        day = day.adding(days: 1)
                    }
                    let differing = Set(stored.keys).union(expected.keys).filter { stored[$0] != expected[$0] }
                        .sorted { ($0.day, $0.amountMinor) < ($1.day, $1.amountMinor) }
                        .map { "\($0.day) \($0.amountMinor): stored \(stored[$0] ?? 0), bank \(expected[$0] ?? 0)" }
                    #expect(differing.isEmpty, "\(requisition): each booking stored once: \(differing)")
                }
            }
        }
    }

    struct Booking: Hashable {
        var day: Day
        var amountMinor: Int64
    }

    /// Booked rows' Flowpay ids → source id (or booking date and amount). The ids of that era ("bs_" + half the key)
    /// are unique per account only: the map's keys are account and id.
    private func bookedIDs(_ connection: PostgresConnection) throws -> [String: String] {
        var ids: [String: String] = [:]
        for row in try connection.query("""
            SELECT account_id::text || ' ' || flowpay_id, COALESCE(source_tx_id, booking_date::text || ' ' || amount_minor::text)
            FROM transactions WHERE status = 'booked'
            """) {
            ids[try row.decode(String.self, at: 0)] = try row.decode(String.self, at: 1)
        }
        return ids
    }

    /// The account's stored booked rows, counted by day and amount.
    private func storedBookings(_ connection: PostgresConnection, iban: String) throws -> [Booking: Int] {
        var bookings: [Booking: Int] = [:]
        for row in try connection.query("""
            SELECT t.booking_date, t.amount_minor, count(*) FROM transactions t JOIN accounts a ON a.id = t.account_id
            WHERE a.iban = $1 AND t.status = 'booked' GROUP BY 1, 2
            """, [iban]) {
            bookings[Booking(day: try row.decode(Day.self, at: 0), amountMinor: try row.decode(Int64.self, at: 1))] = try row.decode(Int.self, at: 2)
        }
        return bookings
    }
}
