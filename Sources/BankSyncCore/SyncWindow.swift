/// The whole booking days one sync of one account asks its source for.
public struct SyncWindow: Sendable, Equatable, CustomStringConvertible {
    public let from: Day
    public let to: Day
    public let isFirstSync: Bool
    /// Set when the source allows less history than the customer asked for: the days it does allow.
    public let cappedAtDays: Int?

    public static let historyDaysRange = 90...730
    public static let defaultHistoryDays = 730
    public static let defaultOverlapDays = 7

    public init(from: Day, to: Day, isFirstSync: Bool, cappedAtDays: Int? = nil) {
        self.from = from
        self.to = to
        self.isFirstSync = isFirstSync
        self.cappedAtDays = cappedAtDays
    }

    /// First sync: `[today − history, today]`, history = the customer's days capped by what the source allows.
    /// Later: `[booked_through − overlap, today]` — banks back-date bookings, so recent days are always
    /// re-read (dedup makes that free) — never reaching further back than the first sync would.
    public static func next(today: Day, bookedThrough: Day?, historyDays: Int,
                            sourceMaxHistoryDays: Int? = nil, overlapDays: Int = defaultOverlapDays) -> SyncWindow {
        let requested = min(max(historyDays, historyDaysRange.lowerBound), historyDaysRange.upperBound)
        let allowed = sourceMaxHistoryDays.map { min(requested, max($0, 1)) } ?? requested
        let cap = allowed < requested ? allowed : nil
        let earliest = today.adding(days: -allowed)
        guard let bookedThrough else {
            return SyncWindow(from: earliest, to: today, isFirstSync: true, cappedAtDays: cap)
        }
        let resume = min(bookedThrough, today).adding(days: -max(overlapDays, 0))
        return SyncWindow(from: max(resume, earliest), to: today, isFirstSync: false, cappedAtDays: cap)
    }

    public func contains(_ day: Day) -> Bool { day >= from && day <= to }

    /// A first sync longer than `days` as pieces of `days` whole days, oldest first: each is fetched and
    /// committed with its watermark on its own, so a backfill cut short keeps what it stored and the next run
    /// goes on from there. Every piece after the first also reaches `overlap` days back into the one before
    /// (as a daily window does), so a booking a bank files under a neighbouring day at a piece's edge is read
    /// whole by one of them; dedup makes the overlap free. The pieces are not first syncs themselves (the
    /// history asked for is the whole window's). Any other window, or a short one, is its own only piece.
    public func pieces(ofDays days: Int, overlap: Int = SyncWindow.defaultOverlapDays) -> [SyncWindow] {
        guard isFirstSync, days > 0, dayCount > days else { return [self] }
        var pieces: [SyncWindow] = []
        var start = from
        while start <= to {
            let end = min(start.adding(days: days - 1), to)
            let reach = pieces.isEmpty ? start : max(from, start.adding(days: -max(overlap, 0)))
            pieces.append(SyncWindow(from: reach, to: end, isFirstSync: false, cappedAtDays: cappedAtDays))
            start = end.adding(days: 1)
        }
        return pieces
    }

    public var dayCount: Int { to - from + 1 }

    public var description: String { "[\(from), \(to)]" }
}
