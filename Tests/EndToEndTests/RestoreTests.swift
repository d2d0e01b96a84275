import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// An operator restores last night's backup after a disk or cloud incident. The bookings the restored database
/// lost are read again from the bank; each must reach Flowpay under the id it was first sent with (Flowpay keys
/// transactions by id, so a second id is a duplicate for the lender).
@Suite(.serialized) struct RestoreTests {
    @Test func aDatabaseRestoredFromABackupSendsNoBookingUnderASecondID() async throws {
        try await EndToEnd.with { e2e in
            // Stable source ids (GoCardless's sandbox bank) and none (keys from content).
            let withIDs = try await e2e.addGoCardlessCustomers(1, accountsEach: 2)
            let (withoutIDs, _) = try await e2e.addGoCardlessCustomer(requisition: "noid", institution: "NOIDBANK_NOIDCZPP", accounts: 1,
                                                                      merchant: "noid")
            #expect(try await e2e.run(["sync"]).status == 0)
            let backup = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-restore-\(UUID().uuidString).dump")
            defer { try? FileManager.default.removeItem(at: backup) }
            try await postgresTool("pg_dump", ["--format=custom", "--file=\(backup.path)", "--dbname=\(e2e.database.connectionString)"])
            let backedUp = await e2e.flowpay.snapshot().transactions.values.reduce(0) { $0 + $1.count }

            // Two more days of bookings, synced and delivered, then the database goes back to the backup.
            for offset in 1...2 {
                let later = try await e2e.run(["sync", "--min-interval", "0"], on: e2e.today.adding(days: offset))
                #expect(later.status == 0, "\(later.stdout) \(later.stderr)")
            }
            let beforeRestore = await e2e.flowpay.snapshot().transactions.values.reduce(0) { $0 + $1.count }
            #expect(beforeRestore > backedUp, "bookings after the backup reached Flowpay")
            try await postgresTool("pg_restore", ["--clean", "--if-exists", "--single-transaction",
                                                  "--dbname=\(e2e.database.connectionString)", backup.path])
            let connection = try e2e.connect()
            defer { connection.close() }
            let lost = beforeRestore - (try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'"))
            #expect(lost > 0, "the restored database lacks the bookings stored after the backup")

            for offset in [2, 3] {
                let again = try await e2e.run(["sync", "--min-interval", "0"], on: e2e.today.adding(days: offset))
                #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
            }
            let snapshot = await e2e.flowpay.snapshot()
            for customer in withIDs + [withoutIDs] {
                // A booking the restored database lost is sent again, under the same id: Flowpay upserts it.
                let received = Set((snapshot.transactions[customer.uuidString.lowercased()] ?? []).map(\.id))
                let stored = Set(try connection.query("""
                    SELECT t.flowpay_id FROM transactions t JOIN customers c ON c.id = t.customer_id
                    WHERE c.flowpay_customer_id = $1 AND t.status = 'booked'
                    """, [customer]).map { try $0.decode(String.self, at: 0) })
                #expect(received.subtracting(stored).isEmpty,
                        "no booking at Flowpay under an id the database no longer holds (customer \(customer)): \(received.subtracting(stored).count)")
                #expect(stored.subtracting(received).isEmpty, "every stored booking delivered (customer \(customer))")
            }
        }
    }

    /// Runs one of the PostgreSQL server's own tools (the version the test server runs).
    private func postgresTool(_ name: String, _ arguments: [String]) async throws {
        let tool = try PrivatePostgres.binariesDirectory().appendingPathComponent(name).path
        let outcome = try await BankSyncProcess.runTool(tool, arguments, environment: [:])
        #expect(outcome.status == 0, "\(name): \(outcome.stderr)")
        guard outcome.status == 0 else { throw E2EError.setup("\(name) failed: \(outcome.stderr)") }
    }
}
