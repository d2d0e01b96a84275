import BankSyncCore
import Postgres

/// What matching a fetch against an earlier consent's or source's rows decided.
struct SwitchMatch {
    /// New rows recognised as a booking stored under an earlier consent or source: the stored row took their key.
    var adopted = 0
    /// New rows that may be such a booking or another one: held.
    var held = 0
}

extension Store {
    /// Inside an ingest's transaction, after its rows are stored and before edits are looked for: after a renewal or a
    /// move to another source (the customer's key generation moved), the same booking can come back with content that
    /// differs from what was stored — the other source writes bank codes, remittance parts and value dates its own way
    /// (and a release that changes the mapping does the same) — so its content key matches nothing and it would be
    /// sent again under a new id. Such rows are matched on what every source agrees on: booking date, amount and
    /// currency, and the counterparty's account where both sides have one; the remittance text breaks ties.
    /// - A new row paired with exactly one stored row of an earlier generation that this fetch did not return by key
    ///   (and that one with exactly it) is that booking — when the fetch shows the source writes bookings differently
    ///   (most earlier rows it covers were not recognised exactly): the stored row takes its key and keeps its
    ///   Flowpay id. Otherwise the pair is held: the stored row may just be missing from this fetch.
    /// - A new row with several possible stored rows, or sharing its possibilities with other new rows, is held
    ///   (`possible_duplicate`) rather than guessed.
    /// - A new row no stored row could be is new.
    /// `released`: keys of held rows released by this transaction (not this fetch's new rows); `adoptedByContent`: rows
    /// this ingest recognised by content under a new key; `candidates`: `switchCandidates`' rows when already read
    /// (`identityReads`).
    func matchAcrossSources(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], released: [UInt8], adoptedByContent: Int,
                            keyGeneration: Int32, runID: Int64?, candidates: QueryResult? = nil) throws -> SwitchMatch {
        let rows = try candidates ?? connection.query(Self.switchCandidates, [account.id, account.customerID, fetchedBookedKeys, window.from,
                                                                              window.to, keyGeneration, released], planning: .perExecution)
        guard rows.rowCount > 0 else { return SwitchMatch() }
        var stored: [Candidate] = [], fetched: [Candidate] = []
        for row in rows {
            let candidate = Candidate(key: try row.decode(at: 1), day: try row.decode(at: 2), amount: try row.decode(at: 3),
                                      currency: try row.decode(at: 4), counterparty: try row.decode(at: 5), remittance: try row.decode(at: 6))
            if try row.decode(Bool.self, at: 0) { fetched.append(candidate) } else { stored.append(candidate) }
        }
        guard !stored.isEmpty else { return SwitchMatch() }
        // Evidence that the new consent or source writes bookings differently: most earlier rows this fetch covers
        // were not recognised exactly (by key, or by content in this ingest). Where most were, the source writes
        // them as before, and an earlier row it did not return is more likely missing from this fetch than
        // rewritten: a new row resembling it may be another booking (the A/B case), so pairs are held, not adopted.
        let recognisedExactly = (try rows.first.map { try $0.decode(Int.self, at: 7) } ?? 0) + adoptedByContent
        let rewritten = stored.count >= 2 && stored.count >= 2 * recognisedExactly
        var match = SwitchMatch()
        let storedByBooking = Dictionary(grouping: stored, by: \.booking)
        for (booking, news) in Dictionary(grouping: fetched, by: \.booking) {
            guard let olds = storedByBooking[booking] else { continue }
            var (pairs, undecided) = Self.pair(news, olds)
            if !rewritten {
                undecided += pairs
                pairs = []
            }
            for (new, old) in pairs {
                try connection.execute(Self.adoptAcrossSources, [account.id, old.key, new.key])
                match.adopted += 1
            }
            for (new, old) in undecided {
                try connection.execute(Self.holdRow.replacingOccurrences(of: "'possible_edit'", with: "'possible_duplicate'"),
                                       [account.id, new.key, account.customerID, old.key])
                match.held += 1
            }
        }
        if match.held > 0 {
            try recordEvent(customerID: account.customerID, accountID: account.id, runID: runID, level: .info, code: "transactions_held",
                            message: "\(match.held) booking(s) held after a consent or source change: each matches more than one booking "
                                + "stored before by date, amount and counterparty, so it may be one of them or another booking (banksync held list)")
        }
        return match
    }

    struct Candidate: Equatable {
        let key: [UInt8]
        let day: Day
        let amount: Int64
        let currency: String
        let counterparty: String?
        let remittance: String?

        var booking: String { "\(day) \(amount) \(currency)" }

        func mayBe(_ other: Candidate) -> Bool { Normalization.mayBeSameAccount(counterparty, other.counterparty) }

        func looksLike(_ other: Candidate) -> Bool { counterparty == other.counterparty && remittance == other.remittance }
    }

    /// Pairs the new rows with the stored rows of one booking day, amount and currency: first those whose remittance
    /// texts are equal, then those left with exactly one possibility each way. Returns the pairs, and each new row left
    /// with some possibility (held) beside its first one.
    static func pair(_ news: [Candidate], _ olds: [Candidate]) -> (pairs: [(Candidate, Candidate)], undecided: [(Candidate, Candidate)]) {
        // Identical twins on both sides (the same booking twice that day, each side written its own way): any pairing
        // gives each booking one id.
        if news.count == olds.count, news.allSatisfy({ $0.looksLike(news[0]) && $0.mayBe(olds[0]) }), olds.allSatisfy({ $0.looksLike(olds[0]) }) {
            return (Array(zip(news, olds)), [])
        }
        var newsLeft = news, oldsLeft = olds
        var pairs: [(Candidate, Candidate)] = []
        func take(_ newIndex: Int, _ oldIndex: Int) {
            pairs.append((newsLeft[newIndex], oldsLeft[oldIndex]))
            newsLeft.remove(at: newIndex)
            oldsLeft.remove(at: oldIndex)
        }
        // Remittance as a tie-breaker: equal texts pair when each has exactly one such partner.
        var progress = true
        while progress {
            progress = false
            for (n, new) in newsLeft.enumerated() {
                let equal = oldsLeft.indices.filter { new.mayBe(oldsLeft[$0]) && oldsLeft[$0].remittance == new.remittance }
                let rivals = newsLeft.filter { other in equal.contains { other.mayBe(oldsLeft[$0]) && oldsLeft[$0].remittance == other.remittance } }
                if equal.count == 1, rivals.count == 1 { take(n, equal[0]); progress = true; break }
                let possible = oldsLeft.indices.filter { new.mayBe(oldsLeft[$0]) }
                let sharing = newsLeft.filter { other in possible.contains { other.mayBe(oldsLeft[$0]) } }
                if possible.count == 1, sharing.count == 1 { take(n, possible[0]); progress = true; break }
            }
        }
        let undecided = newsLeft.compactMap { new in oldsLeft.first { new.mayBe($0) }.map { (new, $0) } }
        return (pairs, undecided)
    }

    /// $1 account, $2 its customer, $3 the booked keys fetched (32 bytes each), $4…$5 the window, $6 the customer's key
    /// generation, $7 keys of held rows this transaction released. Column 0 true: this ingest's new booked rows; false: booked rows stored under an earlier generation,
    /// in the window, already queued or sent, that this fetch did not return by key. Only days and amounts both sides have.
    static let switchCandidates = """
        WITH fetched AS (
            SELECT substring($3::bytea FROM i * 32 + 1 FOR 32) AS tx_key FROM generate_series(0, length($3::bytea) / 32 - 1) AS i
        ), fresh AS (
            SELECT true AS fresh, t.tx_key, t.booking_date, t.amount_minor, t.currency, t.counterparty_iban, t.remittance
            FROM transactions t
            WHERE t.customer_id = $2 AND t.ingest_xid = pg_current_xact_id() AND t.account_id = $1 AND t.status = 'booked'
              AND t.push_state = 'pushed' AND t.booking_date BETWEEN $4::date AND $5::date   -- queued by this ingest
              AND NOT EXISTS (SELECT 1 FROM generate_series(0, length($7::bytea) / 32 - 1) AS j
                              WHERE substring($7::bytea FROM j * 32 + 1 FOR 32) = t.tx_key)
        ), earlier AS (
            SELECT false AS fresh, t.tx_key, t.booking_date, t.amount_minor, t.currency, t.counterparty_iban, t.remittance
            FROM transactions t
            WHERE t.account_id = $1 AND t.status = 'booked' AND t.key_generation < $6::integer AND t.push_state IS NOT NULL
              AND t.booking_date BETWEEN $4::date AND $5::date AND t.ingest_xid <> pg_current_xact_id()
              AND (t.booking_date, t.amount_minor) IN (SELECT booking_date, amount_minor FROM fresh)
            EXCEPT ALL
            SELECT false, t.tx_key, t.booking_date, t.amount_minor, t.currency, t.counterparty_iban, t.remittance
            FROM fetched f JOIN transactions t ON t.account_id = $1 AND t.tx_key = f.tx_key
        )
        SELECT *, (SELECT count(*) FROM fetched f JOIN transactions t ON t.account_id = $1 AND t.tx_key = f.tx_key
                   WHERE t.key_generation < $6::integer) AS returned_by_key
        FROM (SELECT * FROM fresh WHERE (booking_date, amount_minor) IN (SELECT booking_date, amount_minor FROM earlier)
              UNION ALL
              SELECT * FROM earlier) candidates
        """

    /// $1 account, $2 the stored row's key, $3 the new row's key: the new row goes, the stored row takes its key, source
    /// id, generation and raw row, and keeps its Flowpay id, push state and content. Its old key is retired.
    static let adoptAcrossSources = """
        WITH new AS (
            DELETE FROM transactions WHERE account_id = $1 AND tx_key = $3
            RETURNING content_key, source_tx_id, key_generation, raw
        ), retired AS (\(retireKey.replacingOccurrences(of: "$OLD", with: "$2::bytea"))
        )
        UPDATE transactions t SET tx_key = $3, content_key = new.content_key, source_tx_id = new.source_tx_id,
               key_generation = new.key_generation, raw = COALESCE(new.raw, t.raw)
        FROM new WHERE t.account_id = $1 AND t.tx_key = $2
        """
}
