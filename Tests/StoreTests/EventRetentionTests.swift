import BankSyncCore
import Foundation
import Store
import Testing
import TestSupport

/// `sync_events` has a retention: old events go in bounded batches, but never what `lag` and
/// `lag --interruptions` read (each customer's latest sync and everything since, a consent still expired).
@Suite struct EventRetentionTests {
    @Test func oldEventsGoExceptWhatTheLagReportsRead() async throws {
        try await TestDatabase.with { database in
            let store = try await IngestFixture.make(database).store
            let connection = store.connection
            func customer(_ merchant: String) throws -> Int64 {
                try store.addCustomer(flowpayCustomerID: UUID(), merchantID: merchant, source: .gocardless, sourceRef: merchant)
            }
            func event(_ customerID: Int64?, _ code: String, daysAgo: Int, level: String = "warning") throws {
                try connection.execute("""
                    INSERT INTO sync_events (customer_id, level, code, message, at) VALUES ($1, $2, $3, $4, now() - make_interval(days => $5::int))
                    """, [customerID, level, code, "\(code) \(daysAgo) days ago", daysAgo])
            }
            // Healthy: an old problem, an old sync, a recent sync. Only the recent sync must stay.
            let healthy = try customer("healthy")
            try event(healthy, "bank_unavailable", daysAgo: 200)
            try event(healthy, "synced", daysAgo: 150, level: "info")
            try event(healthy, "synced", daysAgo: 1, level: "info")
            // Interrupted for 120 days: its last sync and every problem since are what `lag` shows, whatever their age.
            let interrupted = try customer("interrupted")
            try event(interrupted, "rate_limited", daysAgo: 300)
            try event(interrupted, "synced", daysAgo: 121, level: "info")
            try event(interrupted, "bank_unavailable", daysAgo: 120)
            try event(interrupted, "bank_unavailable", daysAgo: 2)
            // Consent expired long ago, though a sync (of what was left) ran since: the expiry's since-when stays.
            let expired = try customer("expired")
            try event(expired, "consent_expired", daysAgo: 200)
            try event(expired, "synced", daysAgo: 100, level: "info")
            try connection.execute("UPDATE customers SET status = 'consent_expired' WHERE id = $1", [expired])
            // What older builds wrote for every bad consent callback: no customer.
            for day in [400, 300, 95] { try event(nil, "consent_link_unknown", daysAgo: day) }
            try event(nil, "consent_link_unknown", daysAgo: 3)

            // Sorted: rows of equal rank are ordered by seconds of lag, which move between two calls.
            let lagBefore = try store.lagReport().map { "\($0.merchantID) \($0.status) \($0.lastError ?? "-")" }.sorted()
            let interruptionsBefore = try store.interruptions()
            let deleted = try store.pruneEvents(olderThanDays: 90, batchSize: 2)
            #expect(deleted == 6)   // healthy's two old ones, interrupted's old rate_limited, three anonymous ones
            let left = try connection.query("SELECT c.merchant_id, e.code, (now() - e.at) > interval '90 days' FROM sync_events e "
                                            + "LEFT JOIN customers c ON c.id = e.customer_id ORDER BY e.id").map {
                "\(try $0.decode(String?.self, at: 0) ?? "-") \(try $0.decode(String.self, at: 1)) \(try $0.decode(Bool.self, at: 2) ? "old" : "recent")"
            }
            #expect(left == ["healthy synced recent", "interrupted synced old", "interrupted bank_unavailable old", "interrupted bank_unavailable recent",
                             "expired consent_expired old", "expired synced old", "- consent_link_unknown recent"])
            #expect(try store.lagReport().map { "\($0.merchantID) \($0.status) \($0.lastError ?? "-")" }.sorted() == lagBefore)
            #expect(try store.interruptions() == interruptionsBefore)
            #expect(try store.pruneEvents(olderThanDays: 90) == 0, "a second run finds nothing")
        }
    }
}
