import BankSyncCore
import Testing

/// The arithmetic of reconciliation: which balances count, what a balanceAfterTransaction chain says, the verdict.
@Suite struct ReconciliationTests {
    let czk = try! Currency(code: "CZK")
    let d1 = Day(iso: "2026-11-02")!

    func day(_ offset: Int) -> Day { d1.adding(days: offset) }

    func balance(_ kind: Balance.Kind, _ minor: Int64, _ offset: Int, currency: String = "CZK", datedBy: Balance.DatedBy = .referenceDate) -> Balance {
        Balance(kind: kind, amount: Money(minorUnits: minor, currency: try! Currency(code: currency)), referenceDate: day(offset), datedBy: datedBy)
    }

    @Test func bookingsBetweenTwoBookedBalancesAddUpToTheirDifference() {
        let (anchors, why) = Reconciliation.anchors([balance(.closingBooked, 100_00, 0), balance(.closingBooked, 130_00, 3),
                                                     balance(.interimAvailable, 999_00, 3)], currency: "CZK", today: day(10))
        #expect(why == nil && anchors.count == 2)
        let bookings = [Reconciliation.Booking(day: day(0), amountMinor: -5_00),   // before the first balance day: not counted
                        Reconciliation.Booking(day: day(1), amountMinor: 50_00),
                        Reconciliation.Booking(day: day(3), amountMinor: -20_00)]
        let outcome = Reconciliation.check(anchors: anchors, bookings: bookings)
        #expect(outcome == Reconciliation.Outcome(state: .reconciled, firstDay: day(0), reconciledThrough: day(3)))
    }

    @Test func theEarliestRangeThatDoesNotAddUpIsNamedWithItsDifference() {
        let (anchors, _) = Reconciliation.anchors([balance(.closingBooked, 100_00, 0), balance(.closingBooked, 150_00, 2),
                                                   balance(.closingBooked, 120_00, 4), balance(.closingBooked, 0, 6)],
                                                  currency: "CZK", today: day(10))
        let bookings = [Reconciliation.Booking(day: day(1), amountMinor: 50_00),
                        Reconciliation.Booking(day: day(3), amountMinor: -10_00, held: true),   // the bank has -30.00 here
                        Reconciliation.Booking(day: day(5), amountMinor: -1_00)]
        let outcome = Reconciliation.check(anchors: anchors, bookings: bookings)
        #expect(outcome.state == .mismatch)
        #expect(outcome.reconciledThrough == day(2))
        #expect(outcome.mismatch == Reconciliation.Mismatch(from: day(2), to: day(4), differenceMinor: -20_00, heldMinor: -10_00))
    }

    @Test func anOpeningBalanceIsTheEndOfTheDayBeforeAndAClosingOneWinsTheDay() {
        let (anchors, _) = Reconciliation.anchors([balance(.openingBooked, 100_00, 1), balance(.closingBooked, 110_00, 1),
                                                   balance(.interimBooked, 77_00, 1)], currency: "CZK", today: day(10))
        let outcome = Reconciliation.check(anchors: anchors, bookings: [Reconciliation.Booking(day: day(1), amountMinor: 10_00)])
        #expect(outcome == Reconciliation.Outcome(state: .reconciled, firstDay: day(0), reconciledThrough: day(1)))
    }

    @Test func todaysInterimBookedBalanceIsNotUsedYesterdaysIs() {
        let today = day(5)
        let (anchors, _) = Reconciliation.anchors([balance(.interimBooked, 1, 5), balance(.interimBooked, 2, 4)], currency: "CZK", today: today)
        #expect(anchors.map(\.day) == [day(4)])
        #expect(Reconciliation.check(anchors: anchors, bookings: []).state == .waiting)
    }

    @Test func balancesInAnotherCurrencyAreNotReconcilable() {
        let (anchors, why) = Reconciliation.anchors([balance(.closingBooked, 1, 0, currency: "EUR"), balance(.closingBooked, 2, 1, currency: "EUR")],
                                                    currency: "CZK", today: day(10))
        #expect(anchors.isEmpty)
        #expect(why == "not reconcilable (the bank's booked balances are in EUR, the account's currency is CZK)")
        #expect(Reconciliation.check(anchors: anchors, bookings: [], whyNone: why!).state == .notReconcilable)
    }

    @Test func balancesWithoutADayAreNotReconcilableButLastChangeDateTimeDatesThem() {
        let undated = Reconciliation.anchors([balance(.closingBooked, 1, 0, datedBy: .fetched)], currency: "CZK", today: day(10))
        #expect(undated.anchors.isEmpty)
        #expect(undated.whyNone == "not reconcilable (the bank gives its booked balances no referenceDate or lastChangeDateTime)")
        let changed = Reconciliation.anchors([balance(.closingBooked, 1, 0, datedBy: .lastChangeDateTime)], currency: "CZK", today: day(10))
        #expect(changed.anchors.map(\.day) == [day(0)])
    }

    @Test func onlyAnAvailableBalanceIsNotReconcilable() {
        let (anchors, why) = Reconciliation.anchors([balance(.interimAvailable, 1, 0), balance(.expected, 1, 0)], currency: "CZK", today: day(10))
        #expect(anchors.isEmpty && why == Reconciliation.noBookedBalance)
        #expect(Reconciliation.check(anchors: [], bookings: []) == Reconciliation.Outcome(state: .notReconcilable, reason: Reconciliation.noBookedBalance))
    }

    @Test func aWholeBalanceAfterTransactionChainGivesEachDaysEndInAnyOrder() {
        // Opening 100.00; day 0: +10, -5 (listed in reverse); day 2: +1.
        let bookings = [Reconciliation.Booking(day: day(0), amountMinor: -5_00, balanceAfterMinor: 105_00),
                        Reconciliation.Booking(day: day(0), amountMinor: 10_00, balanceAfterMinor: 110_00),
                        Reconciliation.Booking(day: day(2), amountMinor: 1_00, balanceAfterMinor: 106_00)]
        let chain = Reconciliation.chainAnchors(bookings)
        #expect(chain.breaks.isEmpty)
        #expect(chain.anchors.map { "\($0.day) \($0.amountMinor)" } == ["\(day(-1)) 10000", "\(day(0)) 10500", "\(day(2)) 10600"])
        #expect(Reconciliation.check(anchors: chain.anchors, bookings: bookings)
                == Reconciliation.Outcome(state: .reconciled, firstDay: day(-1), reconciledThrough: day(2)))
    }

    @Test func aChainWithAGapNamesTheDayAndTheBalancesDisagree() {
        // Day 1: 100 → +10 → 110, [missing -3 → 107], -2 → 105. Day 0 ends at 100, day 2 the bank closes at 105.
        let bookings = [Reconciliation.Booking(day: day(0), amountMinor: 1_00, balanceAfterMinor: 100_00),
                        Reconciliation.Booking(day: day(1), amountMinor: 10_00, balanceAfterMinor: 110_00),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 105_00)]
        let chain = Reconciliation.chainAnchors(bookings)
        #expect(chain.breaks.map(\.day) == [day(1)])
        #expect(chain.breaks.first?.detail.contains("chain breaks on \(day(1))") == true)
        let closing = Reconciliation.Anchor(day: day(2), amountMinor: 105_00, source: "closingBooked")
        let outcome = Reconciliation.check(anchors: chain.anchors + [closing], bookings: bookings, chainBreaks: chain.breaks)
        #expect(outcome.state == .mismatch)
        #expect(outcome.mismatch?.from == day(0) && outcome.mismatch?.to == day(2))
        #expect(outcome.mismatch?.differenceMinor == -3_00, "the bank's balance moved +5.00, the stored bookings +8.00")
        #expect(outcome.mismatch?.chainBreak?.contains(day(1).description) == true)
    }

    @Test func aBookingListedTwiceBreaksTheChainAndTheSum() {
        let bookings = [Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 98_00),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 98_00)]
        let chain = Reconciliation.chainAnchors(bookings)
        #expect(chain.anchors.isEmpty && chain.breaks.count == 1)
        let anchors = [Reconciliation.Anchor(day: day(0), amountMinor: 100_00, source: "closingBooked"),
                       Reconciliation.Anchor(day: day(1), amountMinor: 98_00, source: "closingBooked")]
        #expect(Reconciliation.check(anchors: anchors, bookings: bookings).mismatch?.differenceMinor == 2_00)
    }

    @Test func aChainBreakNamesTheBookingRightAfterTheGap() {
        // Day 0 ends at 100.00; day 1: +10 → 110, [missing -3 → 107], -2 → 105, +1 → 106 (listed out of order).
        let bookings = [Reconciliation.Booking(day: day(0), amountMinor: 1_00, balanceAfterMinor: 100_00, label: "tx-0"),
                        Reconciliation.Booking(day: day(1), amountMinor: 1_00, balanceAfterMinor: 106_00, label: "tx-3"),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 105_00, label: "tx-2"),
                        Reconciliation.Booking(day: day(1), amountMinor: 10_00, balanceAfterMinor: 110_00, label: "tx-1")]
        let detail = Reconciliation.chainAnchors(bookings).breaks.first?.detail ?? ""
        #expect(detail.contains("missing right before tx-2 (-2.00, balance after 105.00), which starts from 107.00"), "\(detail)")
        #expect(!detail.contains("tx-1") && !detail.contains("tx-3"), "\(detail)")
    }

    @Test func aChainBreakOnTheFirstDayNamesTheCandidates() {
        // No day before: the day's first booking and the one after the gap both start where nothing ends.
        let bookings = [Reconciliation.Booking(day: day(1), amountMinor: 10_00, balanceAfterMinor: 110_00, label: "tx-1"),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 105_00, label: "tx-2")]
        let detail = Reconciliation.chainAnchors(bookings).breaks.first?.detail ?? ""
        #expect(detail.contains("one of: tx-2") && detail.contains("tx-1") && detail.contains("opening balance is not known"), "\(detail)")
    }

    @Test func aBookingListedTwiceIsNamed() {
        let bookings = [Reconciliation.Booking(day: day(1), amountMinor: 5_00, balanceAfterMinor: 105_00, label: "tx-a"),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 103_00, label: "tx-b"),
                        Reconciliation.Booking(day: day(1), amountMinor: -2_00, balanceAfterMinor: 103_00, label: "tx-b")]
        let detail = Reconciliation.chainAnchors(bookings).breaks.first?.detail ?? ""
        #expect(detail.contains("tx-b (-2.00, balance after 103.00) is listed 2 times"), "\(detail)")
    }

    @Test func amountsAreWrittenWithTwoDecimals() {
        #expect(Reconciliation.minorText(-43_210) == "-432.10")
        #expect(Reconciliation.minorText(5) == "0.05")
        #expect(Reconciliation.minorText(0) == "0.00")
    }
}
