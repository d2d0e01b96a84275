import BankSyncCore
import Foundation
import PropertyBased
import Store
import Testing
import TestSupport

/// For random histories of one account — bookings added, a booking missing from one fetch (alone or beside a new
/// booking of the same day and amount), the bank's text edits, re-dated bookings and settled amounts under a stable
/// id, consent renewals with new ids — against the real server, with a model of Flowpay that takes every queued row:
/// each Flowpay id is one booking, and each booking reaches Flowpay under exactly one id.
@Suite struct IdentityPropertyTests {
    @Test func everyBookingHasOneFlowpayIDAndEveryIDOneBooking() async throws {
        try await TestDatabase.with { database in
            let base = try await IngestFixture.make(database)
            await propertyCheck(count: 40, input: Gen.int(in: 0...Int.max), Gen.bool) { seed, stableIDs in
                do {
                    let fixture = try await IngestFixture.another(base.store)
                    var history = EventfulHistory(seed: UInt64(seed), stableIDs: stableIDs)
                    try await history.run(against: fixture)
                } catch {
                    Issue.record("seed \(seed) stable \(stableIDs): \(error)")
                }
            }
        }
    }

    /// Histories the property check once failed on, kept: an edit beside a held row withdrawn and reported again (two new
    /// rows of one day and amount, one vanished: the second was sent as new, the first took the edited booking's id),
    /// and a held row released because its candidate came back while another booking of its day and amount stayed away.
    @Test(arguments: [(5_898_824_421_021_398_653, false), (1_270_215_099_566_224_940, false)])
    func historiesThatOnceFailed(seed: Int, stableIDs: Bool) async throws {
        try await TestDatabase.with { database in
            var history = EventfulHistory(seed: UInt64(seed), stableIDs: stableIDs)
            try await history.run(against: try await IngestFixture.make(database))
        }
    }
}

/// Known, not mended (found by the property check, 1 history in about 2,000): after a renewal, content-keyed rows
/// fetched again by key keep their earlier generation, so on a small account "most earlier rows this fetch covers were
/// not recognised exactly" (`matchAcrossSources`' `rewritten`: 2 unreturned against 1 recognised) holds on a fetch
/// merely missing one booking; a new booking of that day and amount is then adopted into the missing one's row (its
/// Flowpay id), and the missing booking, back later, goes out under a second id. The evidence needs a floor (or the
/// generation moved on a match by key); left for the identity work.
@Suite struct IdentityKnownIssueTests {
    @Test func aNewBookingAdoptedIntoAMissingOneOnThinEvidenceAfterARenewal() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            var history = EventfulHistory(seed: 8_629_567_743_125_015_049, stableIDs: false)
            await withKnownIssue("a booking adopted on thin 'the source rewrites bookings' evidence") {
                try await history.run(against: fixture)
            }
        }
    }
}

/// Histories a fetch must decide without ops.
@Suite struct IdentityHoldDecisionTests {
    /// Two bookings of one day and amount, both edited by the bank in one fetch: both held, and the next fetch (both old
    /// versions still away) applies both edits — neither waits for ops because the other's old version is missing too.
    @Test func twoBookingsOfADayAndAmountEditedTogetherAreDecidedByTheNextFetch() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            var history = EventfulHistory(seed: 1, stableIDs: false, bookings: [(3, -450), (3, -450), (5, -12_000)])
            try await history.fetch(fixture)
            history.bookings[0].text += " (corrected)"
            history.bookings[1].text += " (corrected)"
            history.log.append("bookings 0 and 1 edited")
            try await history.fetch(fixture)
            #expect(try history.heldRows(fixture) == 2)
            try await history.fetch(fixture)
            #expect(try history.heldRows(fixture) == 0, "decided by the fetch")
            try history.expectEveryBookingOnceAtFlowpay(fixture)
        }
    }

    /// One booking missing from a fetch while another of its day and amount is edited: the edit is held beside the
    /// missing one; when that one is back, the other (still away) becomes the candidate and the fetch after decides.
    @Test func anEditBesideABookingMissingOnceIsDecidedByFetches() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            var history = EventfulHistory(seed: 1, stableIDs: false, bookings: [(3, -450), (3, -450), (5, -12_000)])
            try await history.fetch(fixture)
            history.bookings[1].text += " (corrected)"
            history.log.append("booking 0 missing once, booking 1 edited")
            try await history.fetch(fixture, omitting: 0)
            #expect(try history.heldRows(fixture) == 1)
            try await history.fetch(fixture)
            #expect(try history.heldRows(fixture) == 1, "booking 0 is back: the held row now waits beside booking 1's old version")
            try await history.fetch(fixture)
            #expect(try history.heldRows(fixture) == 0, "decided by the fetch")
            try history.expectEveryBookingOnceAtFlowpay(fixture)
        }
    }
}

/// One account's bookings as the bank reports them, each with a hidden identity carried in its raw row.
struct EventfulHistory {
    struct Booking {
        let identity: Int
        var day: Int
        var amountMinor: Int64
        var text: String
        var sourceID: String
    }

    let stableIDs: Bool
    let start = Day(iso: "2026-10-01")!
    let horizon = 20
    var random: SplitMix
    var bookings: [Booking] = []
    var generation: Int32 = 1
    var renewals = 0
    var log: [String] = []
    /// What Flowpay holds: id → the bookings sent under it, booking → the ids it was sent under.
    var bookingsOfID: [String: Set<Int>] = [:]
    var idsOfBooking: [Int: Set<String>] = [:]

    init(seed: UInt64, stableIDs: Bool) {
        self.stableIDs = stableIDs
        random = SplitMix(seed: seed)
        for _ in 0..<random.int(3...25) { addBooking() }
    }

    /// A scripted history: these bookings (day, amount), in order.
    init(seed: UInt64, stableIDs: Bool, bookings: [(day: Int, amountMinor: Int64)]) {
        self.stableIDs = stableIDs
        random = SplitMix(seed: seed)
        for booking in bookings { addBooking(day: booking.day, amountMinor: booking.amountMinor) }
    }

    func heldRows(_ fixture: IngestFixture) throws -> Int {
        try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM held_transactions WHERE account_id = $1", [fixture.account.id])
    }

    mutating func addBooking(day: Int? = nil, amountMinor: Int64? = nil) {
        let identity = bookings.count
        bookings.append(Booking(identity: identity, day: day ?? random.int(0...horizon),
                                amountMinor: amountMinor ?? [-999, -12_000, 150_000][random.int(0...2)],
                                text: "booking \(identity)", sourceID: "s\(identity)"))
    }

    var window: SyncWindow { SyncWindow(from: start, to: start.adding(days: horizon + 5), isFirstSync: false) }

    func fetched(omitting omitted: Int? = nil) -> [BankTransaction] {
        bookings.filter { $0.identity != omitted }.map { booking in
            let day = start.adding(days: booking.day)
            return BankTransaction(status: .booked, bookingDate: day, valueDate: day,
                                   amount: Money(minorUnits: booking.amountMinor, currency: czk), counterpartyName: "Shop",
                                   remittance: booking.text, sourceID: booking.sourceID, rawJSON: #"{"h":\#(booking.identity)}"#)
        }
    }

    mutating func run(against fixture: IngestFixture) async throws {
        try await fetch(fixture)
        var previouslyOmitted: Int?
        for _ in 0..<random.int(3...12) {
            var omitted: Int?
            var target = random.int(0...(bookings.count - 1))
            switch random.int(0...4) {
            case 0:
                addBooking()
                log.append("new booking")
            case 1:
                // Missing from one fetch, never two running: a booking missing from two fetches beside a new one of its
                // day and amount is, by the documented rule, the bank's edit (docs/IDENTITY.md, "What is not covered").
                if target == previouslyOmitted { target = (target + 1) % bookings.count }
                omitted = target
                if random.int(0...1) == 0 {   // beside a new booking of the same day and amount (the A/B case)
                    addBooking(day: bookings[target].day, amountMinor: bookings[target].amountMinor)
                }
                log.append("booking \(target) missing once")
            case 2 where stableIDs:
                bookings[target].day = min(horizon, bookings[target].day + random.int(1...2))
                log.append("booking \(target) re-dated")
            case 3 where stableIDs:
                bookings[target].amountMinor -= Int64(random.int(1...99))
                log.append("booking \(target) settled")
            case 2, 3:
                bookings[target].text += " (corrected)"
                log.append("booking \(target) edited")
            default:
                renewals += 1
                generation += 1
                if stableIDs { for index in bookings.indices { bookings[index].sourceID = "r\(renewals)-\(index)" } }
                log.append("renewal")
            }
            try await fetch(fixture, omitting: omitted)
            previouslyOmitted = omitted
            if Self.tracing { try dump(fixture, omitted: omitted) }
        }
        // Two complete fetches decide every hold they can; ops decide the rest, with the evidence (here: the truth).
        try await fetch(fixture)
        try await fetch(fixture)
        let heldIDs = try fixture.store.connection.query("""
            SELECT t.flowpay_id FROM held_transactions h JOIN transactions t ON t.account_id = h.account_id AND t.tx_key = h.tx_key
            WHERE h.account_id = $1 ORDER BY t.id
            """, [fixture.account.id]).map { try $0.decode(String.self, at: 0) }
        for id in heldIDs {
            // As ops would, from the evidence (here: the truth): the stored booking it is, if any.
            guard let identity = try fixture.store.connection.query("""
                SELECT (raw->>'h')::integer FROM transactions WHERE account_id = $1 AND flowpay_id = $2
                """, [fixture.account.id, id]).first.map({ try $0.decode(Int.self, at: 0) }) else { continue }
            let same = try fixture.store.connection.query("""
                SELECT flowpay_id FROM transactions WHERE account_id = $1 AND (raw->>'h')::integer = $2 AND push_state IS NOT NULL
                """, [fixture.account.id, identity]).first.map { try $0.decode(String.self, at: 0) }
            try await fixture.store.decideHold(flowpayID: id, merge: same != nil, mergeInto: same, reason: "property test", operator: "test")
            log.append("ops \(same != nil ? "merged" : "released") booking \(identity)")
        }
        try await fetch(fixture)
        try expectEveryBookingOnceAtFlowpay(fixture)
    }

    /// Each Flowpay id one booking, each booking one id, no hold left.
    func expectEveryBookingOnceAtFlowpay(_ fixture: IngestFixture) throws {
        let story = log.joined(separator: ", ")
        if Self.tracing { try dump(fixture, omitted: nil); print(idsOfBooking) }
        for (id, sent) in bookingsOfID {
            #expect(sent.count == 1, "id \(id) was sent for bookings \(sent.sorted()) (\(story))")
        }
        for booking in bookings {
            #expect(idsOfBooking[booking.identity]?.count == 1,
                    "booking \(booking.identity) reached Flowpay under \(idsOfBooking[booking.identity]?.sorted() ?? []) (\(story))")
        }
        #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM held_transactions WHERE account_id = $1",
                                                        [fixture.account.id]) == 0, "every hold decided (\(story))")
    }

    /// `IDENTITY_PROPERTY_TRACE=1`: the truth and the account's stored rows after every fetch (with a `.fixedSeed` from
    /// a failure, to see where a booking took a second id).
    static let tracing = ProcessInfo.processInfo.environment["IDENTITY_PROPERTY_TRACE"] != nil

    func dump(_ fixture: IngestFixture, omitted: Int?) throws {
        print("== after \(log.last ?? "") gen \(generation) omitted \(omitted.map(String.init) ?? "-")")
        for b in bookings { print("   truth \(b.identity) day \(b.day) amt \(b.amountMinor) \(b.text) \(b.sourceID)") }
        for row in try fixture.store.connection.query("""
            SELECT t.id, t.flowpay_id, (t.raw->>'h'), t.booking_date::text, t.amount_minor, t.remittance, coalesce(t.push_state,'-'),
                   coalesce(h.reason,'-'), encode(t.tx_key,'hex'), coalesce(encode(h.candidate_key,'hex'),'-'),
                   t.key_generation::text, encode(t.content_key,'hex')
            FROM transactions t LEFT JOIN held_transactions h ON h.account_id = t.account_id AND h.tx_key = t.tx_key
            WHERE t.account_id = $1 ORDER BY t.id
            """, [fixture.account.id]) {
            var cols: [String] = []
            for i in 0..<12 { cols.append((try? row.decode(String.self, at: i)) ?? "\((try? row.decode(Int.self, at: i)) ?? -1)") }
            print("   row " + cols.map { String($0.prefix(14)) }.joined(separator: " | "))
        }
    }

    /// One ingest, then Flowpay takes every queued row.
    mutating func fetch(_ fixture: IngestFixture, omitting omitted: Int? = nil) async throws {
        let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: stableIDs,
                                                    keyGeneration: generation, pages: pages([fetched(omitting: omitted)]))
        if Self.tracing { print("   ingest: \(result)") }
        let queued = try fixture.store.connection.query("""
            WITH delivered AS (DELETE FROM push_queue WHERE account_id = $1 RETURNING customer_id, transaction_id)
            SELECT t.flowpay_id, (t.raw->>'h')::integer FROM delivered d
            JOIN transactions t ON t.customer_id = d.customer_id AND t.id = d.transaction_id
            """, [fixture.account.id])
        for row in queued {
            let id = try row.decode(String.self, at: 0), identity = try row.decode(Int.self, at: 1)
            bookingsOfID[id, default: []].insert(identity)
            idsOfBooking[identity, default: []].insert(id)
        }
    }
}
