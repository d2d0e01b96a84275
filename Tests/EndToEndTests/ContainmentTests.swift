import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Testing
import TestSupport

/// One bad row, one refused row, one bad Flowpay hour: contained, visible, and recovered, through the CLI.
@Suite(.serialized) struct ContainmentTests {
    /// Rows no mapping can read are quarantined with their reasons; the account's other rows (and the row
    /// whose text holds a U+0000, normalised) are stored and delivered; the other account is unaffected.
    @Test func unreadableRowsAreQuarantinedAndTheRestDelivered() async throws {
        try await EndToEnd.with { e2e in
            let (customer, ids) = try await e2e.addGoCardlessCustomer(requisition: "poison-req", accounts: 2, merchant: "poison")
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self,
                                                                     from: Data(#"{"poisonAccount":"\#(ids[0])"}"#.utf8)))
            let run = try await e2e.run(["sync"])
            #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
            let connection = try e2e.connect()
            defer { connection.close() }
            let fields = try connection.query("SELECT field, reason FROM ingest_quarantine ORDER BY field").map { try $0.decode(String.self, at: 0) }
            #expect(fields.count == 2)
            #expect(fields.contains { $0.hasSuffix("bookingDate") } && fields.contains { $0.hasSuffix("transactionAmount") })
            #expect(try connection.queryValue(String.self, "SELECT remittance FROM transactions WHERE source_tx_id = 'poison-nul'") == "Platbakartou")
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored > 1000 && received == stored && distinct == stored)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM watermarks WHERE booked_through IS NOT NULL") == 2)
            let interruptions = try await e2e.run(["lag", "--interruptions"])
            #expect(interruptions.stdout.contains("could not be read"), "\(interruptions.stdout)")
            // The next day the same impossible-date row comes again: still one entry for it, nothing fails.
            let next = try await e2e.run(["sync", "--customer", customer.uuidString], on: e2e.today.adding(days: 1))
            #expect(next.status == 0, "\(next.stdout)")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM ingest_quarantine WHERE field LIKE '%bookingDate'") == 1)

            // Ops read them whole, then dismiss them with a reason: no longer an interruption, still kept.
            let list = try await e2e.run(["unreadable", "list", "--customer", customer.uuidString])
            #expect(list.status == 0 && list.stdout.contains("2026-02-30"), "\(list.stdout) \(list.stderr)")
            let dismissed = try await e2e.run(["unreadable", "dismiss", "--customer", customer.uuidString, "--reason", "bank test rows"])
            #expect(dismissed.status == 0 && dismissed.stdout.contains("dismissed"), "\(dismissed.stdout) \(dismissed.stderr)")
            let after = try await e2e.run(["lag", "--interruptions"])
            #expect(!after.stdout.contains("could not be read"), "\(after.stdout)")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM ingest_quarantine WHERE dismissed_reason = 'bank test rows'") >= 2)
        }
    }

    /// A refused row: quarantined while everything else arrives in the same run, still reported after a later
    /// clean run, delivered by `push --requeue-rejected` once Flowpay accepts it.
    @Test func aRefusedRowStaysVisibleUntilRequeuedAndDelivered() async throws {
        try await EndToEnd.with { e2e in
            let customers = try await e2e.addGoCardlessCustomers(2)
            #expect(try await e2e.run(["sync", "--no-push"]).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            let refused = Set(try connection.query("""
                SELECT t.flowpay_id FROM transactions t JOIN customers c ON c.id = t.customer_id
                WHERE c.flowpay_customer_id = $1 AND t.status = 'booked' ORDER BY t.id OFFSET 100 LIMIT 2
                """, [customers[0]]).map { try $0.decode(String.self, at: 0) })
            await e2e.flowpay.refuse(refused, logref: "lr-e2e-refused")
            let push = try await e2e.run(["push"])
            #expect(push.status == 1, "\(push.stderr)")
            let received = await e2e.flowpay.snapshot().transactions.values.flatMap { $0 }
            let stored = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
            #expect(received.count == stored - 2)
            #expect(Set(received.map(\.id)).count == received.count)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE push_state = 'quarantined'") == 2)

            // A later clean run does not hide it.
            #expect(try await e2e.run(["sync", "--min-interval", "0"]).status == 0)
            let report = try await e2e.run(["lag", "--interruptions"])
            #expect(report.stdout.contains("rejected by Flowpay") && report.stdout.contains("lr-e2e-refused"), "\(report.stdout)")
            let lag = try await e2e.run(["lag", "--format", "json"])
            #expect(lag.stdout.contains("\"quarantined\" : 2"), "\(lag.stdout)")

            await e2e.flowpay.refuse([])
            let requeue = try await e2e.run(["push", "--requeue-rejected", "--customer", customers[0].uuidString])
            #expect(requeue.status == 0, "\(requeue.stdout) \(requeue.stderr)")
            #expect(requeue.stdout.contains("requeued 2 refused transaction(s)"))
            let (all, receivedAll, distinct) = try await e2e.assertExactlyOnce()
            #expect(receivedAll == all && distinct == all)
            #expect(!(try await e2e.run(["lag", "--interruptions"])).stdout.contains("rejected by Flowpay"))
            #expect(try await e2e.run(["push", "--drop-rejected"]).status == 2, "a drop needs a reason")
        }
    }

    /// A 403 for one run (a permission not yet propagated), then 200: nothing quarantined, all delivered next run.
    @Test func aForbiddenRunIsRetriedByTheNextRun() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomers(1)
            await e2e.flowpay.inject(.init(status: 403, retryAfter: nil, delayMilliseconds: nil, drop: nil, count: 1, logref: "lr-403"))
            let first = try await e2e.run(["sync"])
            #expect(first.status == 1)
            #expect(first.stdout.contains("flowpay_unavailable"), "\(first.stdout)")
            let second = try await e2e.run(["sync", "--min-interval", "0"])
            #expect(second.status == 0, "\(second.stdout)")
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE (push_state <> 'pushed' OR \(queuedSQL))") == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM push_batches WHERE state IN ('rejected', 'parked')") == 0)
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(received == stored && distinct == stored)
        }
    }
}
