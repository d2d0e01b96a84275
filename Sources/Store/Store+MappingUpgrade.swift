import BankSyncCore
import Foundation
import Postgres

/// A stored row as a mapping upgrade reads it: its keys, its identity as stored and its raw JSON.
public struct StoredRow: Sendable {
    public let key: [UInt8]
    public let contentKey: [UInt8]
    public let flowpayID: String
    /// The raw JSON as stored (jsonb text); nil for rows stored before raw rows were kept.
    public let raw: String?
    public let mappingVersion: Int64?
    /// The row's fields as stored (its `rawJSON` nil): what a row that cannot be mapped again is counted by.
    public let stored: BankTransaction

    /// Keyed by its source id (the stored key is not its content key).
    public var isKeyedBySourceID: Bool { key != contentKey }
}

/// A stored row mapped again: its new keys and fields; its Flowpay id and push state stay.
public struct RemappedRow: Sendable {
    public let oldKey: [UInt8]
    public let key: [UInt8]
    public let contentKey: [UInt8]
    public let transaction: BankTransaction

    public init(oldKey: [UInt8], key: [UInt8], contentKey: [UInt8], transaction: BankTransaction) {
        self.oldKey = oldKey
        self.key = key
        self.contentKey = contentKey
        self.transaction = transaction
    }
}

/// What one batch of a mapping upgrade changed.
public struct RemapOutcome: Sendable, Equatable {
    /// Rows now of the current mapping version.
    public var remapped = 0
    /// Of those, rows whose stored key changed (the old key retired).
    public var rekeyed = 0
    /// Rows whose new key another stored row holds: they keep their key (recorded, never merged).
    public var collisions: [(kept: String, holder: String)] = []
    /// Rows without raw JSON or whose raw JSON no mapping reads: they keep their keys.
    public var unmapped = 0

    public init() {}

    public static func == (lhs: RemapOutcome, rhs: RemapOutcome) -> Bool {
        lhs.remapped == rhs.remapped && lhs.rekeyed == rhs.rekeyed && lhs.unmapped == rhs.unmapped
            && lhs.collisions.map(\.kept) == rhs.collisions.map(\.kept) && lhs.collisions.map(\.holder) == rhs.collisions.map(\.holder)
    }
}

extension Store {
    /// The customer's accounts not known to be wholly of mapping `version` (any row with raw JSON of another), with
    /// their currency (a Fio movement without one is in the account's). One round trip per customer and sync.
    public func accountsBehindMapping(customerID: Int64, version: Int64) throws -> [(id: Int64, currency: String?)] {
        try Self.decodeAccountsBehindMapping(try connection.query(Self.accountsBehindMapping, [customerID, version]))
    }

    /// $1 customer, $2 the mapping version.
    static let accountsBehindMapping = "SELECT id, currency FROM accounts WHERE customer_id = $1 AND mapping_version IS DISTINCT FROM $2 ORDER BY id"

    static func decodeAccountsBehindMapping(_ rows: QueryResult) throws -> [(id: Int64, currency: String?)] {
        try rows.map { (try $0.decode(Int64.self, at: 0), try $0.decode(String?.self, at: 1)) }
    }

    /// The account's booking days (booking date, else value date; nil for an undated pending row) holding rows with
    /// raw JSON of another mapping version, with how many, oldest first; and when there are none and every row has its raw JSON (an account first synced by this
    /// version, the usual case), the account stamped as of `version` in the same statement (`markAccountMapped`): one
    /// round trip instead of three. `stamped`: nothing more to do for the account.
    public func daysBehindMappingOrStamp(accountID: Int64, version: Int64) throws -> (days: [(day: Day?, rows: Int)], stamped: Bool) {
        let rows = try connection.query("""
            WITH behind AS (
                SELECT COALESCE(booking_date, value_date) AS day, count(*) AS rows FROM transactions
                WHERE account_id = $1 AND mapping_version IS DISTINCT FROM $2 AND raw IS NOT NULL
                GROUP BY 1
            ), stamped AS (
                UPDATE accounts SET mapping_version = $2 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM behind)
                   AND NOT EXISTS (SELECT 1 FROM transactions WHERE account_id = $1 AND raw IS NULL)
                RETURNING id
            )
            SELECT day, rows, false AS stamped FROM behind
            UNION ALL SELECT NULL, 0, true FROM stamped
            ORDER BY 3, 1 NULLS FIRST
            """, [accountID, version])
        if let first = rows.first, try first.decode(Bool.self, at: 2) { return ([], true) }
        return (try rows.map { (try $0.decode(Day?.self, at: 0), try $0.decode(Int.self, at: 1)) }, false)
    }

    /// Rows stored without raw JSON (before raw rows were kept, or written by hand): they keep their keys.
    public func rowsWithoutRaw(accountID: Int64) throws -> Int {
        try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE account_id = $1 AND raw IS NULL", [accountID])
    }

    /// Every row of whole booking days `from…through` (`nil`: the undated pending rows) is mapped again in one
    /// transaction under the account's ingest lock: `remap` gets the days' rows in arrival order and returns the
    /// rows it mapped (the others keep their keys). Each returned row takes its new keys and fields and mapping
    /// `version`, keeping its Flowpay id and push state; a changed key is retired (`retired_tx_keys`: a booking
    /// arriving under it later gets a reissued id) and holds follow their rows. A new key another stored row holds
    /// is a collision: the row keeps its key and both ids are returned, never merged. Committed per call: an
    /// upgrade cut short resumes with the days still behind.
    public func remapDays(account: AccountRef, from: Day?, through: Day?, version: Int64,
                          remap: ([StoredRow]) -> [RemappedRow]) async throws -> RemapOutcome {
        try await connection.withTransaction(begin: "BEGIN; SELECT pg_advisory_xact_lock(\(Self.accountLockKey(account.id)))") {
            let rows = try storedRows(accountID: account.id, from: from, through: through)
            let remapped = remap(rows)
            var outcome = RemapOutcome()
            outcome.unmapped = rows.count - remapped.count
            let flowpayIDs = Dictionary(rows.map { (KeyBytes(bytes: $0.key), $0.flowpayID) }, uniquingKeysWith: { first, _ in first })
            // Keys that stay where they are: rows of these days not mapped again, rows whose key does not change, and
            // (looked up) rows of other days holding a new key.
            let changing = remapped.filter { $0.key != $0.oldKey }
            var staying = Set(rows.map { KeyBytes(bytes: $0.key) }).subtracting(changing.map { KeyBytes(bytes: $0.oldKey) })
            var holders: [KeyBytes: String] = [:]
            if !changing.isEmpty {
                for row in try connection.query(Self.keyHolders, [account.id, changing.flatMap(\.key)]) {
                    let key = KeyBytes(bytes: try row.decode([UInt8].self, at: 0))
                    holders[key] = try row.decode(String.self, at: 1)
                }
            }
            // A row whose new key another row keeps (a row of these days staying where it is, a row of another day, a
            // row that itself keeps its key for that reason) keeps its own: repeated until no more rows keep theirs.
            var kept = Set<KeyBytes>()
            var settled = false
            while !settled {
                settled = true
                var taken = staying.union(kept)
                for row in changing where !kept.contains(KeyBytes(bytes: row.oldKey)) {
                    let key = KeyBytes(bytes: row.key)
                    if taken.contains(key) || (flowpayIDs[key] == nil && holders[key] != nil) {
                        kept.insert(KeyBytes(bytes: row.oldKey))
                        settled = false
                        break
                    }
                    taken.insert(key)
                }
            }
            var applied: [RemappedRow] = []
            var moving: [RemappedRow] = []
            for row in remapped {
                let key = KeyBytes(bytes: row.key)
                if row.key != row.oldKey, kept.contains(KeyBytes(bytes: row.oldKey)) {
                    outcome.collisions.append((kept: flowpayIDs[KeyBytes(bytes: row.oldKey)] ?? "?", holder: flowpayIDs[key] ?? holders[key] ?? "?"))
                    applied.append(RemappedRow(oldKey: row.oldKey, key: row.oldKey, contentKey: row.contentKey, transaction: row.transaction))
                } else {
                    if row.key != row.oldKey { moving.append(row) }
                    applied.append(row)
                }
            }
            staying.formUnion(kept)
            staying.formUnion(moving.map { KeyBytes(bytes: $0.key) })
            if !moving.isEmpty {
                // Two steps, so a row may take a key another row of the batch gives up: every moving row first steps
                // aside to a 33-byte key no stored key can equal.
                try connection.execute(Self.stepAside, [account.id, try Self.json(moving.map { ["old": DedupKey.hex($0.oldKey)] })])
            }
            let moved = Set(moving.map { KeyBytes(bytes: $0.oldKey) })
            let changes = applied.map { row -> [String: Any] in
                let match = moved.contains(KeyBytes(bytes: row.oldKey)) ? [0xFF] + row.oldKey : row.oldKey
                let transaction = row.transaction
                var change: [String: Any] = [
                    "match": DedupKey.hex(match), "key": DedupKey.hex(row.key), "content": DedupKey.hex(row.contentKey),
                    "amount": transaction.amount.minorUnits, "currency": transaction.amount.currency.code,
                ]
                change["booking"] = transaction.bookingDate?.description
                change["value"] = transaction.valueDate?.description
                change["iban"] = transaction.counterpartyIBAN
                change["name"] = transaction.counterpartyName
                change["remittance"] = transaction.remittance
                change["code"] = transaction.bankTransactionCode
                return change
            }
            if !changes.isEmpty {
                outcome.remapped = try connection.execute(Self.applyRemap, [account.id, try Self.json(changes), version])
            }
            if !moving.isEmpty {
                let pairs = try Self.json(moving.map { ["old": DedupKey.hex($0.oldKey), "key": DedupKey.hex($0.key)] })
                try connection.execute(Self.followHeldRows, [account.id, pairs])
                try connection.execute(Self.followHoldCandidates, [account.id, pairs])
                let given = moving.filter { !staying.contains(KeyBytes(bytes: $0.oldKey)) }.flatMap(\.oldKey)
                if !given.isEmpty {
                    try connection.execute(Self.retireKey.replacingOccurrences(
                        of: "$OLD", with: "substring($2::bytea FROM i * 32 + 1 FOR 32) FROM generate_series(0, length($2::bytea) / 32 - 1) AS i"),
                        [account.id, given])
                }
            }
            outcome.rekeyed = moving.count
            return outcome
        }
    }

    /// Every row has been mapped again (or cannot be): the account is of `version` until the next bump.
    public func markAccountMapped(accountID: Int64, version: Int64) throws {
        try connection.execute("UPDATE accounts SET mapping_version = $2 WHERE id = $1", [accountID, version])
    }

    /// The rows of whole booking days `from…through` (both nil: the undated pending rows), in arrival order. Booked
    /// rows are read through `transactions_account_booked`, pending ones through `transactions_pending`.
    func storedRows(accountID: Int64, from: Day?, through: Day?) throws -> [StoredRow] {
        try connection.query(Self.rowsOfDays, [accountID, from, through], planning: .perExecution).map { row in
            let currency = try Currency(code: try row.decode(String.self, at: 8))
            var stored = BankTransaction(status: try row.decode(String.self, at: 3) == "booked" ? .booked : .pending,
                                         bookingDate: try row.decode(Day?.self, at: 6), valueDate: try row.decode(Day?.self, at: 7),
                                         amount: Money(minorUnits: try row.decode(Int64.self, at: 9), currency: currency),
                                         counterpartyIBAN: nil, counterpartyName: nil, remittance: nil, bankTransactionCode: nil,
                                         sourceID: try row.decode(String?.self, at: 14))
            // As stored, not normalised again: the fields a row that cannot be mapped again is counted by.
            stored.counterpartyIBAN = try row.decode(String?.self, at: 10)
            stored.counterpartyName = try row.decode(String?.self, at: 11)
            stored.remittance = try row.decode(String?.self, at: 12)
            stored.bankTransactionCode = try row.decode(String?.self, at: 13)
            return StoredRow(key: try row.decode([UInt8].self, at: 0), contentKey: try row.decode([UInt8].self, at: 1),
                             flowpayID: try row.decode(String.self, at: 2), raw: try row.decode(String?.self, at: 4),
                             mappingVersion: try row.decode(Int64?.self, at: 5), stored: stored)
        }
    }

    static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// $1 account, $2 and $3 the first and last booking day (both NULL: the undated pending rows).
    static let rowsOfDays = """
        SELECT tx_key, content_key, flowpay_id, status, raw::text, mapping_version, booking_date, value_date, currency, amount_minor,
               counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, id
        FROM (
            SELECT * FROM transactions WHERE account_id = $1 AND status = 'booked' AND booking_date BETWEEN $2::date AND $3::date
            UNION ALL
            SELECT * FROM transactions WHERE account_id = $1 AND status = 'pending'
              AND (COALESCE(booking_date, value_date) BETWEEN $2::date AND $3::date
                   OR ($2::date IS NULL AND booking_date IS NULL AND value_date IS NULL))
        ) t
        ORDER BY id
        """

    /// $1 account, $2 keys packed 32 bytes each: the stored rows holding them, with their Flowpay ids.
    static let keyHolders = """
        SELECT t.tx_key, t.flowpay_id FROM generate_series(0, length($2::bytea) / 32 - 1) AS i
        JOIN transactions t ON t.account_id = $1 AND t.tx_key = substring($2::bytea FROM i * 32 + 1 FOR 32)
        """

    /// $1 account, $2 `[{old}]`: each row steps aside to `0xFF ‖ old key`.
    static let stepAside = """
        UPDATE transactions t SET tx_key = '\\xff'::bytea || t.tx_key
        FROM jsonb_to_recordset($2::jsonb) AS u(old text)
        WHERE t.account_id = $1 AND t.tx_key = decode(u.old, 'hex')
        """

    /// $1 account, $2 the changes (`match`: the row's key now), $3 the mapping version. Flowpay id, push state,
    /// source id, arrival and raw JSON stay.
    static let applyRemap = """
        UPDATE transactions t SET tx_key = decode(u.key, 'hex'), content_key = decode(u.content, 'hex'),
               booking_date = u.booking, value_date = u.value, amount_minor = u.amount, currency = u.currency,
               counterparty_iban = u.iban, counterparty_name = u.name, remittance = u.remittance, bank_tx_code = u.code,
               mapping_version = $3
        FROM jsonb_to_recordset($2::jsonb) AS u(match text, key text, content text, booking date, value date, amount bigint,
                                                currency text, iban text, name text, remittance text, code text)
        WHERE t.account_id = $1 AND t.tx_key = decode(u.match, 'hex')
        """

    /// $1 account, $2 `[{old, key}]`: holds name their rows by the new keys.
    static let followHeldRows = """
        UPDATE held_transactions h SET tx_key = decode(u.key, 'hex') FROM jsonb_to_recordset($2::jsonb) AS u(old text, key text)
        WHERE h.account_id = $1 AND h.tx_key = decode(u.old, 'hex')
        """

    /// $1 account, $2 `[{old, key}]`: holds name the bookings they may be edits of by the new keys.
    static let followHoldCandidates = """
        UPDATE held_transactions h SET candidate_key = decode(u.key, 'hex') FROM jsonb_to_recordset($2::jsonb) AS u(old text, key text)
        WHERE h.account_id = $1 AND h.candidate_key = decode(u.old, 'hex')
        """
}

/// A 32-byte key as a dictionary key.
struct KeyBytes: Hashable {
    let bytes: [UInt8]
}
