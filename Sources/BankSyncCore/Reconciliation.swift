/// The bank's balances are the evidence: for two booked balances of one account, B₁ at the end of day d₁ and B₂ at
/// the end of d₂, the stored booked amounts with booking days in (d₁, d₂] add up to B₂ − B₁, to the cent.
///
/// Pure arithmetic over what `Store+Reconciliation` reads: which balances count (`anchors`), what a
/// `balanceAfterTransaction` chain says (`chainAnchors`), and the verdict (`check`). It never decides what to do
/// about a difference (the sync engine deep-reads the range once; what persists is an interruption) and never
/// changes a booking.
///
/// What counts:
/// - `closingBooked` of day d is the balance at the end of d; `openingBooked` of d the end of d − 1;
///   `interimBooked` of a day before today the end of that day (today's moves while we read: not used).
/// - Available and expected balances (credit lines, reservations, future bookings) never count; neither do
///   balances in another currency than the account's, nor ones the bank gave no date (`Balance.DatedBy.fetched`).
/// - Every stored booked row counts, held ones (`Store+Holds`: stored, not yet at Flowpay) included — the bank's
///   balance includes them; their amount is reported apart (`heldMinor`).
public enum Reconciliation {
    /// A balance at the end of a day, and where it came from (a balance type or `balanceAfterTransaction`).
    public struct Anchor: Sendable, Equatable {
        public var day: Day
        public var amountMinor: Int64
        public var source: String
        /// Lower wins when two anchors name the same day: a closing balance over an opening one over an interim one
        /// over a chain's day end over a chain's start (`chainOpeningRank`).
        public var rank: Int

        public init(day: Day, amountMinor: Int64, source: String, rank: Int = 0) {
            self.day = day
            self.amountMinor = amountMinor
            self.source = source
            self.rank = rank
        }
    }

    /// A stored booked row as reconciliation sees it: its booking day, amount, the bank's balance after it (when
    /// sent), whether it is held from Flowpay, and what names it to ops (the source's transaction id).
    public struct Booking: Sendable, Equatable {
        public var day: Day
        public var amountMinor: Int64
        public var balanceAfterMinor: Int64?
        public var held: Bool
        public var label: String?

        public init(day: Day, amountMinor: Int64, balanceAfterMinor: Int64? = nil, held: Bool = false, label: String? = nil) {
            self.day = day
            self.amountMinor = amountMinor
            self.balanceAfterMinor = balanceAfterMinor
            self.held = held
            self.label = label
        }

        var balanceBeforeMinor: Int64? { balanceAfterMinor.map { $0 - amountMinor } }
        var named: String { "\(label ?? "a booking") (\(minorText(amountMinor)), balance after \(balanceAfterMinor.map(minorText) ?? "?"))" }
    }

    /// The earliest range whose bookings do not add up: booking days (`from`, `to`].
    public struct Mismatch: Sendable, Equatable {
        public var from: Day
        public var to: Day
        /// The bank's balance movement minus the stored booked amounts: positive, the bank has more than is stored.
        public var differenceMinor: Int64
        /// Of the stored amounts in the range, those of held rows.
        public var heldMinor: Int64
        /// Where a `balanceAfterTransaction` chain breaks inside the range, in words.
        public var chainBreak: String?

        public init(from: Day, to: Day, differenceMinor: Int64, heldMinor: Int64 = 0, chainBreak: String? = nil) {
            self.from = from
            self.to = to
            self.differenceMinor = differenceMinor
            self.heldMinor = heldMinor
            self.chainBreak = chainBreak
        }
    }

    public struct Outcome: Sendable, Equatable {
        public enum State: String, Sendable { case reconciled, waiting, mismatch, notReconcilable = "not_reconcilable" }
        public var state: State
        /// Why it is waiting or not reconcilable.
        public var reason: String?
        public var firstDay: Day?
        public var reconciledThrough: Day?
        public var mismatch: Mismatch?
        /// Held rows' amounts counted in the ranges checked.
        public var heldMinor: Int64 = 0

        public init(state: State, reason: String? = nil, firstDay: Day? = nil, reconciledThrough: Day? = nil, mismatch: Mismatch? = nil,
                    heldMinor: Int64 = 0) {
            self.state = state
            self.reason = reason
            self.firstDay = firstDay
            self.reconciledThrough = reconciledThrough
            self.mismatch = mismatch
            self.heldMinor = heldMinor
        }
    }

    /// The rank of a chain's opening: the end of the day before the first day a chain covers.
    public static let chainOpeningRank = 4
    public static let noBookedBalance = "not reconcilable (the bank gives no booked balance)"
    public static let oneBalanceDay = "one day of booked balances so far: the next one is compared with it"

    /// The balances that count, one per day (the best-ranked), and — when none does — why, in words.
    public static func anchors(_ balances: [Balance], currency: String?, today: Day) -> (anchors: [Anchor], whyNone: String?) {
        let booked = balances.filter(\.isBooked)
        let currency = currency ?? booked.first(where: { $0.kind == .closingBooked })?.amount.currency.code ?? booked.first?.amount.currency.code
        var anchors: [Anchor] = []
        for balance in booked where balance.amount.currency.code == currency && balance.datedBy != .fetched {
            switch balance.kind {
            case .closingBooked:
                anchors.append(Anchor(day: balance.referenceDate, amountMinor: balance.amount.minorUnits, source: "closingBooked", rank: 0))
            case .openingBooked:
                anchors.append(Anchor(day: balance.referenceDate.adding(days: -1), amountMinor: balance.amount.minorUnits, source: "openingBooked", rank: 1))
            case .interimBooked where balance.referenceDate < today:
                anchors.append(Anchor(day: balance.referenceDate, amountMinor: balance.amount.minorUnits, source: "interimBooked", rank: 2))
            default:
                continue
            }
        }
        guard anchors.isEmpty else { return (anchors, nil) }
        if booked.isEmpty { return ([], noBookedBalance) }
        if let other = booked.first(where: { $0.amount.currency.code != currency }), !booked.contains(where: { $0.amount.currency.code == currency }) {
            return ([], "not reconcilable (the bank's booked balances are in \(other.amount.currency.code), the account's currency is \(currency ?? "?"))")
        }
        if booked.allSatisfy({ $0.datedBy == .fetched || $0.amount.currency.code != currency }) {
            return ([], "not reconcilable (the bank gives its booked balances no referenceDate or lastChangeDateTime)")
        }
        return ([], "not reconcilable (the bank gives only today's interim booked balance)")
    }

    /// What the rows' `balanceAfterTransaction` values say, day by day (the bank's order within a day is not kept,
    /// so each day is read as a set): in a whole chain, every balance after a booking is the balance before another
    /// one but the day's last, and every balance before a booking is the balance after another one but the day's
    /// first. A day with exactly one of each gives the balance at its end — and, for the account's first day, at
    /// the end of the day before. A day with more is broken: a booking is missing, or one is there twice.
    /// Days where some row has no balance after it say nothing. (A gap on a day whose bookings, the missing one
    /// included, add up to nothing closes the chain into a loop and hides from this test; the balances' sums still
    /// see it.)
    public static func chainAnchors(_ bookings: [Booking]) -> (anchors: [Anchor], breaks: [(day: Day, detail: String)]) {
        var anchors: [Anchor] = []
        var breaks: [(day: Day, detail: String)] = []
        var byDay: [Day: [Booking]] = [:]
        for booking in bookings { byDay[booking.day, default: []].append(booking) }
        var first = true
        var previousEnd: Int64?   // the end of the last booking day, when its chain was whole
        for day in byDay.keys.sorted() {
            let rows = byDay[day]!
            defer { first = false }
            guard rows.allSatisfy({ $0.balanceAfterMinor != nil }) else { previousEnd = nil; continue }
            var ends: [Int64: Int] = [:]
            for row in rows { ends[row.balanceAfterMinor!, default: 0] += 1 }
            var starts: [Int64: Int] = [:]
            for row in rows { starts[row.balanceAfterMinor! - row.amountMinor, default: 0] += 1 }
            let unmatchedEnds = ends.flatMap { balance, count in Array(repeating: balance, count: max(0, count - (starts[balance] ?? 0))) }.sorted()
            let unmatchedStarts = starts.flatMap { balance, count in Array(repeating: balance, count: max(0, count - (ends[balance] ?? 0))) }.sorted()
            if unmatchedEnds.count == 1, unmatchedStarts.count == 1 {
                if first {
                    anchors.append(Anchor(day: day.adding(days: -1), amountMinor: unmatchedStarts[0], source: "balanceAfterTransaction",
                                          rank: chainOpeningRank))
                }
                anchors.append(Anchor(day: day, amountMinor: unmatchedEnds[0], source: "balanceAfterTransaction", rank: 3))
                previousEnd = unmatchedEnds[0]
            } else if !(unmatchedEnds.isEmpty && unmatchedStarts.isEmpty) {
                breaks.append((day, "the balanceAfterTransaction chain breaks on \(day): \(unmatchedEnds.count) bookings end a chain "
                                  + "(balances after them: \(unmatchedEnds.prefix(3).map(minorText).joined(separator: ", "))) where one should; "
                                  + whereTheChainBreaks(rows, dayOpening: previousEnd)))
                previousEnd = nil
            } else {
                previousEnd = nil   // a loop: no end to carry
            }
        }
        return (anchors, breaks)
    }

    /// The bookings of a broken day the break is next to, in words: a booking listed twice (same amount, same
    /// balance after), or the bookings whose balance before no other booking of the day ends at (nor the day's
    /// opening, when the day before's chain gives it) — right after each, a booking of the difference is missing.
    static func whereTheChainBreaks(_ rows: [Booking], dayOpening: Int64?) -> String {
        var seen: [Int64: [Booking]] = [:]
        for row in rows { seen[row.balanceAfterMinor!, default: []].append(row) }
        let twice = seen.values.filter { group in group.count > 1 && Set(group.map(\.amountMinor)).count == 1 }
        if let group = twice.sorted(by: { $0[0].balanceAfterMinor! < $1[0].balanceAfterMinor! }).first {
            return "\(group[0].named) is listed \(group.count) times"
        }
        let ends = Set(rows.compactMap(\.balanceAfterMinor))
        let orphans = rows.filter { row in !ends.contains(row.balanceBeforeMinor!) && row.balanceBeforeMinor! != dayOpening }
            .sorted { $0.balanceAfterMinor! < $1.balanceAfterMinor! }
        let named = orphans.prefix(3).map { "\($0.named), which starts from \(minorText($0.balanceBeforeMinor!))" }
        if orphans.isEmpty {
            return "every booking of the day starts where another ends or at the day's opening, yet more than one ends a chain: "
                + "a booking that belongs to another day or account may be among them"
        }
        if dayOpening != nil, orphans.count == 1 {
            return "a booking is missing right before \(named[0]): no booking of the day ends at that balance"
        }
        return "a booking is missing right before one of: \(named.joined(separator: "; ")) (no booking of the day ends at those balances"
            + (dayOpening == nil ? "; one of them is the day's first booking, the day's opening balance is not known)" : ")")
    }

    /// The verdict over `anchors` (any order; the best-ranked per day counts) and the stored booked rows after the
    /// first anchor's day: the earliest range that does not add up, else reconciled through the last anchor.
    /// `chainBreaks` name where a chain breaks inside a disagreeing range.
    public static func check(anchors: [Anchor], bookings: [Booking], chainBreaks: [(day: Day, detail: String)] = [],
                             whyNone: String = noBookedBalance) -> Outcome {
        var best: [Day: Anchor] = [:]
        for anchor in anchors where best[anchor.day].map({ anchor.rank < $0.rank }) ?? true { best[anchor.day] = anchor }
        let days = best.keys.sorted()
        guard let firstDay = days.first else { return Outcome(state: .notReconcilable, reason: whyNone) }
        guard days.count > 1 else { return Outcome(state: .waiting, reason: oneBalanceDay, firstDay: firstDay) }
        var sums: [Day: (all: Int64, held: Int64)] = [:]
        for booking in bookings {
            sums[booking.day, default: (0, 0)].all += booking.amountMinor
            if booking.held { sums[booking.day, default: (0, 0)].held += booking.amountMinor }
        }
        let bookedDays = sums.keys.sorted()
        var index = bookedDays.firstIndex { $0 > firstDay } ?? bookedDays.endIndex
        var heldInAll: Int64 = 0
        for (start, end) in zip(days, days.dropFirst()) {
            var stored: Int64 = 0
            var held: Int64 = 0
            while index < bookedDays.endIndex, bookedDays[index] <= end {
                stored += sums[bookedDays[index]]!.all
                held += sums[bookedDays[index]]!.held
                index += 1
            }
            heldInAll += held
            let expected = best[end]!.amountMinor - best[start]!.amountMinor
            if stored != expected {
                let chainBreak = chainBreaks.first { $0.day > start && $0.day <= end }?.detail
                return Outcome(state: .mismatch, firstDay: firstDay, reconciledThrough: start,
                               mismatch: Mismatch(from: start, to: end, differenceMinor: expected - stored, heldMinor: held, chainBreak: chainBreak),
                               heldMinor: heldInAll)
            }
        }
        return Outcome(state: .reconciled, firstDay: firstDay, reconciledThrough: days.last, heldMinor: heldInAll)
    }

    /// Minor units as a decimal amount with two places (every currency BankSync reconciles has two).
    public static func minorText(_ minor: Int64) -> String {
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}
