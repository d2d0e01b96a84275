import BankSyncCore

/// Faults in a sandbox bank's books, switched on per account by a test: what reconciliation must catch.
/// - `dropDay`: the first booking of that day is left out of the next `dropTimes` transaction lists (a page a bank
///   or aggregator lost), while the balances still include it.
/// - `duplicateDay`: the first booking of that day is listed twice from now on (under another id where the bank
///   gives ids), while the balances count it once.
/// - `shiftMinor`: the booked balances are off by this much.
/// - `kinds`, `undated`, `currency`: which balance types the bank reports, without `referenceDate`, in another
///   currency (what some banks do).
/// - `chain`: false leaves out `balanceAfterTransaction` (true adds it where the bank would not).
/// - `listsFrom`: the bank lists no booking before this day, whatever `date_from` asks (a bank that keeps fewer
///   days than asked, or cuts a long window), while its balances still include them.
public struct SandboxLedgerFault: Sendable, Codable, Equatable {
    public var dropDay: String?
    public var dropTimes: Int?
    public var duplicateDay: String?
    public var shiftMinor: Int64?
    public var kinds: [String]?
    public var undated: Bool?
    public var currency: String?
    public var chain: Bool?
    public var listsFrom: String?

    public init() {}

    /// Applies the faults to one transaction list: `rows` are the synthetic bookings with their JSON. Returns the
    /// rows to list and whether a drop was spent.
    func apply(to rows: [(transaction: SyntheticBank.Transaction, json: [String: Any])], idFields: [String])
        -> (rows: [[String: Any]], dropped: Bool) {
        var listed: [[String: Any]] = []
        var dropped = false
        let drop = (dropTimes ?? 1) > 0 ? dropDay.flatMap { Day(iso: $0) } : nil
        let duplicate = duplicateDay.flatMap { Day(iso: $0) }
        var duplicated = false
        let firstListed = listsFrom.flatMap { Day(iso: $0) }
        for (transaction, json) in rows {
            if let firstListed, transaction.bookingDay < firstListed { continue }
            if let drop, !dropped, transaction.bookingDay == drop {
                dropped = true
                continue
            }
            listed.append(json)
            if let duplicate, !duplicated, transaction.bookingDay == duplicate {
                duplicated = true
                var copy = json
                for field in idFields { if let id = copy[field] as? String { copy[field] = id + "-dup" } }
                listed.append(copy)
            }
        }
        return (listed, dropped)
    }
}
