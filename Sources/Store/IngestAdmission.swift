import BankSyncCore

/// Sorts one fetch's rows as they arrive: counts them, sets aside days outside the window and stable ids
/// the source repeats, keys the rest and keeps the pending rows' keys (for the stale-pending clean-up).
struct IngestAdmission {
    let window: SyncWindow
    var keys: WindowKeys
    var result = IngestResult()
    /// Keys of the fetched pending rows, 32 bytes each: pending rows are few (the last days' card holds).
    var pendingKeys: [UInt8] = []
    /// Keys of the fetched booked rows, 32 bytes each, when `tracksBookedKeys`: what the source still reports,
    /// to recognise a stored booking it edited (`Store.recognizeEdits`). 32 bytes a row of the window.
    var bookedKeys: [UInt8] = []
    var tracksBookedKeys = false
    /// The oldest booked day fetched: on a first sync, how much history the source really gave.
    var oldestBooked: Day?

    let sourceIDsAreStable: Bool

    init(window: SyncWindow, sourceIDsAreStable: Bool) {
        self.window = window
        self.sourceIDsAreStable = sourceIDsAreStable
        keys = WindowKeys(sourceIDsAreStable: sourceIDsAreStable)
    }

    /// The row's keys, or nil when it is not to be stored (outside the window, or a repeated stable id).
    mutating func admit(_ transaction: BankTransaction) -> WindowKeys.Keys? {
        result.fetched += 1
        if let day = transaction.day, !window.contains(day) {
            result.outsideWindow += 1
            // Its key must not depend on the window: a stable source id does not; a fingerprint's ordinal
            // counts its whole booking day, which the source did not necessarily return.
            guard sourceIDsAreStable, transaction.sourceID != nil, transaction.status == .booked,
                  let keys = keys.keys(for: transaction) else {
                result.outsideWindowDropped += 1
                return nil
            }
            // Its content ordinal counts only the part of its day the source returned, so it never replaces a
            // stored content key (an in-window read later sets the real one) and is never adopted — but it still
            // shows that the booking may be stored under an earlier consent's ids: after a renewal, a bank that
            // filters by value date returns earlier bookings outside the window under their new ids, and a content
            // key that matched nothing sent each of them to Flowpay a second time. Such a row waits for a read
            // with its whole day (`Store.storeChunk`).
            return WindowKeys.Keys(key: keys.key, contentKey: keys.contentKey, ordinalIsReliable: false)
        }
        guard let keys = keys.keys(for: transaction) else {
            result.duplicates += 1
            return nil
        }
        if transaction.status == .pending {
            pendingKeys.append(contentsOf: keys.key)
        } else {
            if tracksBookedKeys { bookedKeys.append(contentsOf: keys.key) }
            if let day = transaction.bookingDate, oldestBooked.map({ day < $0 }) ?? true { oldestBooked = day }
        }
        return keys
    }
}

/// Fetched rows with their keys, waiting for one probe and one COPY.
struct KeyedChunk {
    private(set) var transactions: [BankTransaction] = []
    /// The rows' keys, 32 bytes each, in row order: sent as-is as one bytea parameter of the probe.
    private(set) var packedKeys: [UInt8] = []
    /// The rows' content keys, likewise.
    private(set) var packedContentKeys: [UInt8] = []

    var count: Int { transactions.count }

    /// Per row: whether its content key may replace a stored one (not for rows of partly returned days).
    private(set) var ordinalIsReliable: [Bool] = []

    mutating func append(_ transaction: BankTransaction, keys: WindowKeys.Keys) {
        ordinalIsReliable.append(keys.ordinalIsReliable)
        transactions.append(transaction)
        packedKeys.append(contentsOf: keys.key)
        packedContentKeys.append(contentsOf: keys.contentKey)
    }

    func key(at index: Int) -> ArraySlice<UInt8> {
        packedKeys[index * DedupKey.byteCount ..< (index + 1) * DedupKey.byteCount]
    }

    func contentKey(at index: Int) -> ArraySlice<UInt8> {
        packedContentKeys[index * DedupKey.byteCount ..< (index + 1) * DedupKey.byteCount]
    }

    mutating func removeAll() {
        ordinalIsReliable.removeAll(keepingCapacity: true)
        transactions.removeAll(keepingCapacity: true)
        packedKeys.removeAll(keepingCapacity: true)
        packedContentKeys.removeAll(keepingCapacity: true)
    }
}
