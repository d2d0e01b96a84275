import BankSyncCore
import Foundation
import PropertyBased
import Store
import Testing
import TestSupport

/// For random account histories and random sequences of overlapping fetch windows, against the real server:
/// what is stored (and so queued for push) is exactly the distinct booked transactions fetched, each once.
@Suite struct DedupPropertyTests {
    /// Histories starting on an ordinary day and ending on the awkward ones (month and year ends, a leap day).
    @Test(arguments: [Day(iso: "2026-06-01")!] + TestCalendar.awkwardDays.map { $0.adding(days: -20) })
    func queuedIsExactlyTheDistinctBookedTransactions(start: Day) async throws {
        try await TestDatabase.with { database in
            let base = try await IngestFixture.make(database)
            await propertyCheck(count: start == Day(iso: "2026-06-01") ? 40 : 8, input: Gen.int(in: 0...Int.max), Gen.bool) { seed, stableIDs in
                do {
                    // Probe chunks of 1 to 7 rows: every window crosses chunk edges (twins split across them).
                    let chunked = Store(connection: base.store.connection, ingestChunkSize: 1 + seed % 7)
                    let fixture = try await IngestFixture.another(chunked)
                    var account = SimulatedAccount(seed: UInt64(seed), stableIDs: stableIDs, start: start)
                    try await account.run(against: fixture)
                } catch {
                    Issue.record("seed \(seed) stable \(stableIDs): \(error)")
                }
            }
        }
    }
}

/// A bank account's life over `horizon` days as the bank reports it: booked transactions (identical twins,
/// back-dated ones visible up to `overlap` days late), pending ones that book later with another date or
/// amount, pending ones that are dropped.
struct SimulatedAccount {
    struct Booked {
        let index: Int
        let day: Int
        let visibleFrom: Int
        let amount: String
        let text: String
    }

    struct Pending {
        let index: Int
        let day: Int
        let visible: ClosedRange<Int>
        let amount: String
    }

    let start: Day
    let horizon = 40
    let overlap = 7
    let stableIDs: Bool
    var random: SplitMix
    var bookedTransactions: [Booked] = []
    var pendingTransactions: [Pending] = []

    init(seed: UInt64, stableIDs: Bool, start: Day) {
        self.stableIDs = stableIDs
        self.start = start
        random = SplitMix(seed: seed)
        let amounts = ["-89.00", "-120.00", "1500.00"]
        let texts = ["coffee", "rent", "salary"]
        for index in 0..<random.int(10...60) {
            let day = random.int(0...horizon)
            let lag = random.int(0...9) < 7 ? 0 : random.int(1...overlap)
            let transaction = Booked(index: index, day: day, visibleFrom: day + lag,
                                     amount: amounts[random.int(0...2)], text: texts[random.int(0...2)])
            bookedTransactions.append(transaction)
            if random.int(0...9) < 2 {   // an identical twin the same day
                bookedTransactions.append(Booked(index: 1000 + index, day: day, visibleFrom: day + random.int(0...overlap),
                                                 amount: transaction.amount, text: transaction.text))
            }
            if random.int(0...9) < 3, transaction.visibleFrom > 0 {   // pending first, books later
                let pendingDay = max(0, day - random.int(0...3))
                let from = min(pendingDay, transaction.visibleFrom - 1)
                pendingTransactions.append(Pending(index: index, day: pendingDay, visible: from...(transaction.visibleFrom - 1),
                                                   amount: random.int(0...1) == 0 ? transaction.amount : "-99.99"))
            }
        }
        for index in 0..<random.int(0...3) {   // pending that never books
            let day = random.int(0...horizon)
            pendingTransactions.append(Pending(index: 5000 + index, day: day, visible: day...(day + random.int(0...5)), amount: "-7.00"))
        }
    }

    /// What the bank returns on day `today` for `window`, shuffled and split into pages.
    mutating func fetch(today: Int, window: SyncWindow) -> [[BankTransaction]] {
        var rows: [BankTransaction] = []
        for transaction in bookedTransactions where transaction.visibleFrom <= today {
            let day = start.adding(days: transaction.day)
            guard window.contains(day) else { continue }
            rows.append(BankTransaction(status: .booked, bookingDate: day, valueDate: day,
                                        amount: try! Money(parsing: transaction.amount, currency: czk),
                                        counterpartyName: "Shop", remittance: transaction.text,
                                        sourceID: stableIDs ? "b-\(transaction.index)" : nil))
        }
        for transaction in pendingTransactions where transaction.visible.contains(today) {
            let day = start.adding(days: transaction.day)
            guard window.contains(day) else { continue }
            rows.append(BankTransaction(status: .pending, bookingDate: nil, valueDate: day,
                                        amount: try! Money(parsing: transaction.amount, currency: czk),
                                        counterpartyName: "Shop", remittance: "pending",
                                        sourceID: stableIDs ? "p-\(transaction.index)" : nil))
        }
        random.shuffle(&rows)
        var pages: [[BankTransaction]] = []
        while !rows.isEmpty {
            let size = min(rows.count, random.int(1...7))
            pages.append(Array(rows.prefix(size)))
            rows.removeFirst(size)
        }
        return pages
    }

    /// The multiset of booked transactions that should be stored after fetching with `seen` windows.
    func expected(_ predicate: (Booked) -> Bool) -> [String: Int] {
        var counts: [String: Int] = [:]
        for transaction in bookedTransactions where predicate(transaction) {
            counts[signature(start.adding(days: transaction.day), transaction.amount, transaction.text), default: 0] += 1
        }
        return counts
    }

    func signature(_ day: Day, _ amount: String, _ text: String) -> String { "\(day)|\(amount)|\(text)" }

    func stored(_ fixture: IngestFixture) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try fixture.store.connection.query("""
            SELECT booking_date, amount_minor, remittance FROM transactions WHERE account_id = $1 AND status = 'booked'
            """, [fixture.account.id]) {
            let amount = Money(minorUnits: try row.decode(Int64.self, at: 1), currency: czk).decimalString
            counts[signature(try row.decode(Day.self, at: 0), amount, try row.decode(String.self, at: 2)), default: 0] += 1
        }
        return counts
    }

    mutating func run(against fixture: IngestFixture) async throws {
        var fetchedWindows: [(today: Int, window: SyncWindow)] = []
        var seen: [Bool] = Array(repeating: false, count: 2000)
        let finalDay = horizon + overlap + 1
        var markSetOn: (mark: Day, day: Int)?
        for today in 0...finalDay where today == finalDay || random.int(0...9) < 6 {
            let bookedThrough = try fixture.store.bookedThrough(accountID: fixture.account.id)
            var window = SyncWindow.next(today: start.adding(days: today), bookedThrough: bookedThrough,
                                         historyDays: 90, overlapDays: overlap)
            if today < finalDay, random.int(0...9) < 2, let earlier = fetchedWindows.randomElement(using: &random) {
                window = earlier.window   // re-fetch a window already seen, later
            }
            let fetched = fetch(today: today, window: window)
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: stableIDs,
                                                        pages: pages(fetched))
            fetchedWindows.append((today, window))
            for transaction in bookedTransactions
            where transaction.visibleFrom <= today && window.contains(start.adding(days: transaction.day)) {
                seen[transaction.index] = true
            }
            // Stored booked rows are exactly the distinct booked transactions ever fetched.
            #expect(try stored(fixture) == expected { seen[$0.index] }, "day \(today) window \(window) result \(result)")
            // Pending is never queued.
            #expect(try fixture.count("status = 'pending' AND push_state IS NOT NULL") == 0)
            // Every booked row is queued exactly once (nothing is pushed in this test).
            #expect(try fixture.count("status = 'booked' AND NOT \(queuedSQL)") == 0)
            // The watermark never passes data that is not stored: whatever the bank had booked up to the
            // watermark's day when the watermark was set is stored.
            if let mark = try fixture.store.bookedThrough(accountID: fixture.account.id) {
                if markSetOn?.mark != mark { markSetOn = (mark, today) }
                let setOn = markSetOn!.day
                let due = expected { $0.visibleFrom <= setOn && start.adding(days: $0.day) <= mark }
                let have = try stored(fixture)
                for (signature, count) in due { #expect((have[signature] ?? 0) >= count, "watermark \(mark) passes \(signature)") }
            }
        }
        // At the end everything the bank ever booked is stored once; re-fetching any window queues nothing.
        #expect(try stored(fixture) == expected { _ in true })
        for (_, window) in fetchedWindows.shuffled(using: &random).prefix(5) {
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: stableIDs,
                                                       pages: pages(fetch(today: finalDay, window: window)))
            #expect(again.newBooked == 0, "re-fetch of \(window) queued \(again.newBooked)")
        }
        #expect(try fixture.count("status = 'pending'") == 0 || pendingTransactions.contains { $0.visible.contains(finalDay) })
    }
}

/// A small deterministic generator, so a failing seed reproduces the same world.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func shuffle<T>(_ array: inout [T]) { array.shuffle(using: &self) }
}
