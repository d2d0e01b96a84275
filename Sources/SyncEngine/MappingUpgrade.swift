import Aggregators
import BankSyncCore
import Store

/// Keeps a customer's stored rows keyed by the current mapping (docs/IDENTITY.md, "Mapping versions"), before
/// anything of the customer is read: rows stored under an older `TransactionMapping.version` are mapped again from
/// their raw JSON and their keys recomputed by the same functions a fresh read uses (`TransactionMapping.remap`,
/// `DedupKey`), so the next read recognises every stored booking by its key. Flowpay ids and push state stay;
/// nothing is sent again. Whole booking days go together (a content key's ordinal counts its day), about
/// `batchRows` rows to a transaction, each committed: an upgrade cut short resumes where it stopped.
///
/// Costs no round trip of its own once every account is of the current version: the accounts behind are read with the
/// accounts' read states (`Store.accountsBehindMappingAndReadStates`).
struct MappingUpgrade {
    let store: Store
    var version: Int64 = TransactionMapping.version
    var batchRows = 1_000

    /// What one customer's upgrade did.
    struct Summary: Equatable {
        var remapped = 0
        var rekeyed = 0
        var collisions = 0
        var unmapped = 0
    }

    /// Maps the customer's rows of older versions again; `progress` runs after each batch (the claim's lease).
    /// `behind`: the customer's accounts of another version, when read already (`Store.accountsBehindMappingAndReadStates`).
    func run(customerID: Int64, runID: Int64?, behind: [(id: Int64, currency: String?)]? = nil,
             progress: () throws -> Void = {}) async throws -> Summary {
        var summary = Summary()
        for account in try behind ?? store.accountsBehindMapping(customerID: customerID, version: version) {
            let ref = AccountRef(id: account.id, customerID: customerID)
            var collisions: [(kept: String, holder: String)] = []
            var accountRemapped = 0, accountRekeyed = 0
            let behind = try store.daysBehindMappingOrStamp(accountID: account.id, version: version)
            if behind.stamped { continue }   // nothing behind, every row with raw JSON: stamped, no event to record
            for batch in Self.batches(behind.days, rows: batchRows) {
                try Task.checkCancellation()
                let outcome = try await store.remapDays(account: ref, from: batch.from, through: batch.through, version: version) { rows in
                    Self.remap(rows, accountCurrency: account.currency)
                }
                accountRemapped += outcome.remapped
                accountRekeyed += outcome.rekeyed
                summary.unmapped += outcome.unmapped
                collisions += outcome.collisions
                try progress()
            }
            summary.remapped += accountRemapped
            summary.rekeyed += accountRekeyed
            summary.collisions += collisions.count
            if accountRemapped > 0 {
                try store.recordEvent(customerID: customerID, accountID: account.id, runID: runID, level: .info, code: "rows_remapped",
                                      message: "\(accountRemapped) stored row(s) mapped again from their raw JSON by mapping version \(version), "
                                          + "\(accountRekeyed) under a new key; Flowpay ids kept, nothing sent again")
            }
            if !collisions.isEmpty {
                try store.recordEvent(customerID: customerID, accountID: account.id, runID: runID, level: .warning, code: "remap_collision",
                                      message: "\(collisions.count) stored row(s) kept their key: mapped again, another stored booking holds "
                                          + "their new key (kept → holder: "
                                          + collisions.prefix(20).map { "\($0.kept) → \($0.holder)" }.joined(separator: ", ")
                                          + "); neither merged nor sent again, ops decide")
            }
            let withoutRaw = try store.rowsWithoutRaw(accountID: account.id)
            if withoutRaw > 0 {
                try store.recordEvent(customerID: customerID, accountID: account.id, runID: runID, level: .info, code: "rows_not_remapped",
                                      message: "\(withoutRaw) stored row(s) without their raw JSON keep their keys (mapping version \(version) "
                                          + "cannot map them again); a re-read booking of theirs that the new mapping keys otherwise is "
                                          + "recognised by the source-switch match or held")
            }
            try store.markAccountMapped(accountID: account.id, version: version)
        }
        return summary
    }

    /// Consecutive booking days of about `rows` rows each (a day is never split); the undated rows alone.
    static func batches(_ days: [(day: Day?, rows: Int)], rows limit: Int) -> [(from: Day?, through: Day?)] {
        var batches: [(from: Day?, through: Day?)] = []
        var current: (from: Day, through: Day, rows: Int)?
        for entry in days {
            guard let day = entry.day else {
                batches.append((nil, nil))
                continue
            }
            if let open = current, open.rows + entry.rows <= limit {
                current = (open.from, day, open.rows + entry.rows)
            } else {
                if let open = current { batches.append((open.from, open.through)) }
                current = (day, day, entry.rows)
            }
        }
        if let open = current { batches.append((open.from, open.through)) }
        return batches
    }

    /// The rows of whole booking days mapped again, in arrival order, keyed as a fetch of those days keys them
    /// (`WindowKeys`): the n-th row with a fingerprint gets ordinal n; a row keyed by its source id keeps that
    /// identity (`DedupKey` "id2" over the new fields), a row keyed by content takes its new content key. Rows
    /// without raw JSON, or whose raw JSON no mapping reads, are left out (they keep their keys) but still count
    /// for the ordinals, by their stored fields.
    static func remap(_ rows: [StoredRow], accountCurrency: String?) -> [RemappedRow] {
        var occurrences: [[UInt8]: Int32] = [:]
        var remapped: [RemappedRow] = []
        for row in rows {
            let transaction = row.raw.flatMap { raw in
                try? TransactionMapping.remap(raw: raw, status: row.stored.status, sourceID: row.stored.sourceID, accountCurrency: accountCurrency)
            }
            let fingerprint = DedupKey.fingerprint(transaction ?? row.stored)
            let ordinal = (occurrences[fingerprint] ?? 0) + 1
            occurrences[fingerprint] = ordinal
            guard let transaction else { continue }
            let contentKey = DedupKey.withOrdinal(fingerprint, ordinal: ordinal)
            let key = row.isKeyedBySourceID && transaction.sourceID != nil
                ? DedupKey.base(for: transaction, sourceIDsAreStable: true).bytes : row.isKeyedBySourceID ? row.key : contentKey
            remapped.append(RemappedRow(oldKey: row.key, key: key, contentKey: contentKey, transaction: transaction))
        }
        return remapped
    }
}
