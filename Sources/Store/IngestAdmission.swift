import BankSyncCore

/// Sorts one fetch's rows as they arrive: counts them, sets aside days outside the window and stable ids
/// the source repeats, keys the rest and keeps the pending rows' keys (for the stale-pending clean-up).
struct IngestAdmission {
    let window: SyncWindow
    var keys: WindowKeys
    var result = IngestResult()
    /// Keys of the fetched pending rows, 32 bytes each: pending rows are few (the last days' card holds).
    var pendingKeys: [UInt8] = []

    init(window: SyncWindow, sourceIDsAreStable: Bool) {
        self.window = window
        keys = WindowKeys(sourceIDsAreStable: sourceIDsAreStable)
    }

    /// The row's key, or nil when it is not to be stored (outside the window, or a repeated stable id).
    mutating func admit(_ transaction: BankTransaction) -> [UInt8]? {
        result.fetched += 1
        if let day = transaction.day, !window.contains(day) {
            result.outsideWindow += 1
            return nil
        }
        guard let key = keys.key(for: transaction) else {
            result.duplicates += 1
            return nil
        }
        if transaction.status == .pending { pendingKeys.append(contentsOf: key) }
        return key
    }
}

/// Fetched rows with their keys, waiting for one probe and one COPY.
struct KeyedChunk {
    private(set) var transactions: [BankTransaction] = []
    /// The rows' keys, 32 bytes each, in row order: sent as-is as the probe's one bytea parameter.
    private(set) var packedKeys: [UInt8] = []

    var count: Int { transactions.count }

    mutating func append(_ transaction: BankTransaction, key: [UInt8]) {
        transactions.append(transaction)
        packedKeys.append(contentsOf: key)
    }

    func key(at index: Int) -> ArraySlice<UInt8> {
        packedKeys[index * DedupKey.byteCount ..< (index + 1) * DedupKey.byteCount]
    }

    mutating func removeAll() {
        transactions.removeAll(keepingCapacity: true)
        packedKeys.removeAll(keepingCapacity: true)
    }
}
