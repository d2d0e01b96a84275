import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

@Suite struct FeedTests {
    @Test func aKeptCursorSeesEveryRowOnceWhileASyncIsWriting() async throws {
        try await PullAPIHarness.with { api in
            try await api.ingest(120, salt: "initial", connection: api.store.connection)
            // A writer keeps ingesting while the reader pages; each ingest is one transaction.
            let writerConnection = try api.database.connect()
            let finished = Flag()
            let writer = Task {
                try await withBlockingIOExecutor {
                    for round in 0..<40 { try await api.ingest(25, salt: "round \(round)", connection: writerConnection) }
                }
                await finished.set()
            }
            var seen: [String] = []
            var cursor: String?
            // Rows become visible once no older transaction is running anywhere on the server (other tests'
            // included), so the reader polls until it has everything or a generous deadline passes.
            let expected = 120 + 40 * 25
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline {
                let writerFinished = await finished.value
                if writerFinished && seen.count >= expected { break }
                let page = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1&size=37" + (cursor.map { "&page=\($0)" } ?? ""))
                #expect(page.status == 200)
                let data = page.json["data"] as? [[String: Any]] ?? []
                seen += data.compactMap { $0["id"] as? String }
                if let next = page.json["nextPage"] as? String { cursor = next }
                #expect(data.isEmpty == (page.json["nextPage"] == nil))
                if data.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            try await writer.value
            let stored = try api.store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE status = 'booked'")
            #expect(stored == 120 + 40 * 25)
            #expect(seen.count == stored, "every row once")
            #expect(Set(seen).count == seen.count, "never a row twice")
        }
    }

    @Test func badParametersAndUnknownMerchantsGetTheEnvelope() async throws {
        try await PullAPIHarness.with { api in
            for (query, status) in [("merchantId=merchant-1&size=0", 400), ("merchantId=merchant-1&size=1001", 400),
                                    ("merchantId=merchant-1&size=abc", 400), ("merchantId=merchant-1&page=garbage", 400),
                                    ("merchantId=merchant-1&updatedAt=yesterday", 400), ("size=10", 400), ("merchantId=nobody", 404)] {
                let answer = try await api.get("/flowpay/v1/bank-transactions?" + query)
                #expect(answer.status == status, "\(query)")
                #expect((answer.json["logref"] as? String)?.isEmpty == false, "\(query) has a logref")
                #expect(((answer.json["_embedded"] as? [String: Any])?["errors"] as? [[String: Any]])?.isEmpty == false)
            }
            let empty = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1")
            #expect(empty.status == 200)
            #expect((empty.json["data"] as? [Any])?.isEmpty == true)
            #expect(empty.json["nextPage"] == nil, "an empty page is the last page")
            let accounts = try await api.get("/flowpay/v1/bank-accounts?merchantId=merchant-1")
            #expect((accounts.json["data"] as? [[String: Any]])?.first?["iban"] as? String == "CZ6508000000192000145399")
        }
    }

    /// The bank-accounts feed carries each account's reconciliation with the bank's booked balances (an added
    /// field, /openapi.yaml `Reconciliation`), absent before the account was ever reconciled.
    @Test func bankAccountsCarryTheReconciliationState() async throws {
        try await PullAPIHarness.with { api in
            let before = try await api.get("/flowpay/v1/bank-accounts?merchantId=merchant-1")
            #expect((before.json["data"] as? [[String: Any]])?.first?["reconciliation"] == nil)
            let day = Day(iso: "2026-11-02")!
            let czk = try Currency(code: "CZK")
            _ = try await api.store.upsertAccount(customerID: api.customerID, BankAccount(
                sourceAccountID: "a1", iban: "CZ6508000000192000145399", bic: "GIBACZPX", currency: "CZK",
                balances: [Balance(kind: .openingBooked, amount: Money(minorUnits: 500_00, currency: czk), referenceDate: day),
                           Balance(kind: .closingBooked, amount: Money(minorUnits: 475_50, currency: czk), referenceDate: day)]))
            let result = try api.store.reconcile(account: AccountRef(id: api.accountID, customerID: api.customerID), checkFrom: day.adding(days: -1),
                                                 today: day.adding(days: 1))
            #expect(result.now.outcome.state == .mismatch, "no booking stored for the -24.50 the bank booked")
            let answer = try await api.get("/flowpay/v1/bank-accounts?merchantId=merchant-1")
            let reconciliation = try #require((answer.json["data"] as? [[String: Any]])?.first?["reconciliation"] as? [String: Any])
            #expect(reconciliation["state"] as? String == "mismatch")
            #expect(reconciliation["differenceFrom"] as? String == "2026-11-02" && reconciliation["differenceTo"] as? String == "2026-11-02")
            #expect((reconciliation["difference"] as? NSNumber)?.doubleValue == -24.5 && reconciliation["currency"] as? String == "CZK")
            #expect(reconciliation["reconciledThrough"] as? String == "2026-11-01")
        }
    }

    /// `updatedAt` is visibility: a poller that resumes with the previous answer's `X-Updated-Until` gets every
    /// row exactly once, also when an ingest commits while an older transaction still runs (its rows become
    /// servable only after polls that began later than they arrived).
    @Test func aPollerResumingByUpdatedAtNeverMissesARow() async throws {
        try await PullAPIHarness.with { api in
            var since: String?
            var seen: [String] = []
            /// One poll resuming from the previous one; returns how many rows it got.
            func poll() async throws -> Int {
                let answer = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1&size=1000"
                                                + (since.map { "&updatedAt=\($0.replacingOccurrences(of: "+", with: "%2B"))" } ?? ""))
                #expect(answer.status == 200)
                since = try #require(answer.headers.first { $0.0.lowercased() == "x-updated-until" }?.1)
                let rows = (answer.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                seen += rows
                return rows.count
            }
            func pollUntil(_ total: Int) async throws {
                let deadline = ContinuousClock.now + .seconds(180)
                while seen.count < total, ContinuousClock.now < deadline {
                    if try await poll() == 0 { try await Task.sleep(for: .milliseconds(50)) }
                }
            }
            try await api.ingest(10, salt: "before", connection: api.store.connection)
            try await pollUntil(10)

            // An older transaction holds the horizon while an ingest commits: its rows arrive now, but the feed
            // can serve them only after the older transaction ends — after the polls below began.
            let older = try api.database.connect()
            defer { older.close() }
            try older.execute("BEGIN")
            _ = try older.queryValue(String.self, "SELECT pg_current_xact_id()::text")
            try await api.ingest(5, salt: "held back", connection: api.store.connection)
            for _ in 0..<3 {
                _ = try await poll()
                try await Task.sleep(for: .milliseconds(30))
            }
            try older.execute("COMMIT")
            try await pollUntil(15)
            _ = try await poll()

            #expect(seen.count == 15, "every row: \(seen.count)")
            #expect(Set(seen).count == seen.count, "never a row twice")
        }
    }

    /// Walking a backlog of full pages takes no feed lock once every servable row has its stamp, so concurrent
    /// walks for one merchant do not queue on it; rows still to stamp send the request down the locked path, so
    /// a full page never serves a row without its stamp.
    @Test func fullPagesOfStampedRowsNeedNoFeedLockAndNewRowsAreStampedBeforeTheyAreServed() async throws {
        try await PullAPIHarness.with { api in
            try await api.ingest(40, salt: "backlog", connection: api.store.connection)
            // Rows become servable once no older transaction runs anywhere on the server; poll until all are stamped.
            let deadline = ContinuousClock.now + .seconds(180)
            func unstamped() throws -> Int {
                try api.store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE visible_at IS NULL")
            }
            while try unstamped() > 0, ContinuousClock.now < deadline {
                _ = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1&size=1000")
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try unstamped() == 0)

            // Another session holds the customer's feed lock: full pages are still answered.
            let holder = try api.database.connect()
            defer { holder.close() }
            try holder.execute("SELECT pg_advisory_lock($1)", [(Int64(0x4645) << 32) | (api.customerID & 0xffff_ffff)])
            var cursor: String?
            for _ in 0..<4 {
                let page = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1&size=10" + (cursor.map { "&page=\($0)" } ?? ""))
                #expect(page.status == 200)
                #expect((page.json["data"] as? [Any])?.count == 10)
                cursor = page.json["nextPage"] as? String
            }
            try holder.execute("SELECT pg_advisory_unlock_all()")
            let afterBacklog = try #require(cursor)

            // New rows after the kept cursor: the full page that serves them has stamped them first.
            try await api.ingest(5, salt: "new", connection: api.store.connection)
            var served: [String] = []
            while served.isEmpty, ContinuousClock.now < deadline {
                let page = try await api.get("/flowpay/v1/bank-transactions?merchantId=merchant-1&size=5&page=\(afterBacklog)")
                served = (page.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                if served.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(served.count == 5)
            for id in served {
                let stamped = try api.store.connection.queryValue(Bool.self, "SELECT visible_at IS NOT NULL FROM transactions WHERE flowpay_id::text = $1", [id])
                #expect(stamped, "\(id) was served with its stamp")
            }
        }
    }
}

actor Flag {
    var value = false
    func set() { value = true }
}
