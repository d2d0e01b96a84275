import BankSyncCore
import Foundation
import Postgres
import Sandbox
import Store
import Testing
import TestSupport

/// The bank's balances are the evidence, end to end: `banksync sync` against the sandbox banks (their booked
/// balances agree with what they list, SyntheticBank), a real PostgreSQL and the Flowpay sandbox.
@Suite(.serialized) struct SandboxReconciliationTests {
    /// The first sync day from `start` on whose bank (the requisition's first account) books something on the day
    /// the books close (`today − 6`, SyntheticBank.booksCloseAfterDays): a fault there is in the first checked range.
    func dayWithBookingOnClosedDay(_ bank: SyntheticBank, from start: Day) -> (day: Day, booking: SyntheticBank.Transaction) {
        var day = start
        while true {
            let closed = bank.closedDay(today: day)
            if let booking = bank.transactions(bookedOn: closed).first(where: { !$0.isFee }) { return (day, booking) }
            day = day.adding(days: 1)
        }
    }

    func reconciliation(_ connection: PostgresConnection, source account: String) throws -> [String: Any] {
        let json = try connection.queryValue(String.self, """
            SELECT row_to_json(r)::text FROM account_reconciliation r JOIN accounts a ON a.id = r.account_id WHERE a.source_account_id = $1
            """, [account])
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func aCleanBackfillAndThreeDailyRunsReconcileEveryAccountToTheCent() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomers(1, accountsEach: 2)
            _ = try await e2e.addGoCardlessCustomer(requisition: "noid-rec", institution: "NOIDBANK_NOIDCZPP", merchant: "noid-merchant")
            _ = try await e2e.addBerlinGroupCustomer(consent: "rec-consent", merchant: "bg-merchant")
            for offset in 0...3 {
                let day = e2e.today.adding(days: offset)
                let run = try await e2e.run(["sync", "--min-interval", "0"], on: day)
                #expect(run.status == 0, "\(day): \(run.stdout) \(run.stderr)")
                let connection = try e2e.connect()
                defer { connection.close() }
                let states = try connection.query("SELECT state, reconciled_through::text FROM account_reconciliation ORDER BY account_id")
                    .map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String?.self, at: 1) ?? "-")" }
                // Every account agrees through the bank's last closed day.
                let closed = day.adding(days: -SyntheticBank.booksCloseAfterDays)
                #expect(states == Array(repeating: "reconciled \(closed)", count: 4), "\(day): \(states)")
                if offset == 3 {
                    // The cost of one account's reconciliation in a daily run: statements and time, measured directly.
                    let store = Store(connection: connection)
                    for row in try connection.query("SELECT a.id, a.customer_id, w.booked_through FROM accounts a JOIN watermarks w ON w.account_id = a.id") {
                        let ref = AccountRef(id: try row.decode(Int64.self, at: 0), customerID: try row.decode(Int64.self, at: 1))
                        let windowStart = try row.decode(Day.self, at: 2).adding(days: -SyncWindow.defaultOverlapDays)
                        // Once unmeasured: the session prepares its statements on first use, as a worker's does once.
                        _ = try store.reconcile(account: ref, checkFrom: windowStart.adding(days: -1), today: day)
                        // PostgresStatistics counts every connection of the process: exact only while no other suite
                        // runs (`--filter SandboxReconciliationTests`), so it is printed, not asserted.
                        let before = PostgresStatistics.roundTripsSoFar
                        let clock = ContinuousClock()
                        var times: [Duration] = []
                        for _ in 0..<9 {
                            times.append(try clock.measure { _ = try store.reconcile(account: ref, checkFrom: windowStart.adding(days: -1), today: day) })
                        }
                        let trips = (PostgresStatistics.roundTripsSoFar - before) / 9
                        times.sort()
                        let rows = try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE account_id = $1 AND booking_date >= $2::date",
                                                             [ref.id, windowStart.adding(days: -1)])
                        print("reconciliation cost: account \(ref.id) (\(rows) rows in the days read), \(trips) round trips, "
                              + "min \(times[0]), median \(times[4]), max \(times[8])")
                    }
                }
            }
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored > 1000 && received == stored && distinct == stored)
            let lag = try await e2e.run(["lag", "--accounts", "--format", "json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(lag.stdout.utf8)) as? [[String: Any]])
            #expect(rows.count == 4 && rows.allSatisfy { $0["reconciliation"] as? String == "ok" }, "\(lag.stdout)")
            let table = try await e2e.run(["lag"])
            #expect(table.stdout.contains("reconciled through") && table.stdout.contains("difference"), "\(table.stdout)")
            let csv = try await e2e.run(["lag", "--format", "csv"])
            #expect(csv.stdout.split(separator: "\n").first?.contains("reconciled through,difference") == true, "\(csv.stdout)")
        }
    }

    @Test func aBookingDroppedFromOneFetchIsFlaggedRepairedByTheDeepReadItTriggersAndSentOnce() async throws {
        try await EndToEnd.with { e2e in
            let (_, accounts) = try await e2e.addGoCardlessCustomer(requisition: "drop-req", merchant: "drop")
            let bank = try #require(await e2e.goCardless.bankAccounts(ofRequisition: "drop-req").first?.bank)
            let (day, booking) = dayWithBookingOnClosedDay(bank, from: e2e.today)
            let closed = bank.closedDay(today: day)
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(
                #"{"ledgerAccount": "\#(accounts[0])", "ledger": {"dropDay": "\#(closed)", "dropTimes": 1}}"#.utf8)))
            let run = try await e2e.run(["sync"], on: day)
            #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
            let connection = try e2e.connect()
            defer { connection.close() }
            // Flagged: the range is the closed day alone (between the opening and the closing balance), the
            // difference the dropped booking's amount; the deep read of exactly that day brought it in.
            let repaired = try connection.query("SELECT message FROM sync_events WHERE code = 'reconciliation_repaired'").map { try $0.decode(String.self, at: 0) }
            #expect(repaired.count == 1)
            let amount = Reconciliation.minorText(booking.amountMinor) + " CZK"
            #expect(repaired.first?.contains("a deep read of \(closed)…\(closed) found 1 booking(s)") == true, "\(repaired)")
            #expect(repaired.first?.contains(amount) == true, "\(repaired) should name \(amount)")
            let state = try reconciliation(connection, source: accounts[0])
            #expect(state["state"] as? String == "reconciled")
            #expect(state["reconciled_through"] as? String == closed.description)
            #expect(state["deep_read_from"] as? String == closed.description && state["deep_read_to"] as? String == closed.description)
            // The booking is stored once and at Flowpay once, with everything else.
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE source_tx_id = $1", [booking.internalID]) == 1)
            let flowpayID = try connection.queryValue(String.self, "SELECT flowpay_id FROM transactions WHERE source_tx_id = $1", [booking.internalID])
            let received = await e2e.flowpay.snapshot().transactions.values.flatMap { $0 }
            #expect(received.filter { $0.id == flowpayID }.count == 1)
            let (stored, all, distinct) = try await e2e.assertExactlyOnce()
            #expect(all == stored && distinct == stored)
            #expect(!(try await e2e.run(["lag", "--interruptions"], on: day)).stdout.contains("disagree"))
        }
    }

    @Test func aBookingTheBankListsTwiceIsFlaggedAndNotSilentlyFixed() async throws {
        try await EndToEnd.with { e2e in
            let (_, accounts) = try await e2e.addGoCardlessCustomer(requisition: "dup-req", merchant: "dup")
            let bank = try #require(await e2e.goCardless.bankAccounts(ofRequisition: "dup-req").first?.bank)
            let (day, booking) = dayWithBookingOnClosedDay(bank, from: e2e.today)
            let closed = bank.closedDay(today: day)
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(
                #"{"ledgerAccount": "\#(accounts[0])", "ledger": {"duplicateDay": "\#(closed)"}}"#.utf8)))
            #expect(try await e2e.run(["sync"], on: day).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            let state = try reconciliation(connection, source: accounts[0])
            #expect(state["state"] as? String == "mismatch")
            #expect(state["mismatch_from"] as? String == closed.adding(days: -1).description && state["mismatch_to"] as? String == closed.description)
            #expect((state["difference_minor"] as? NSNumber)?.int64Value == -booking.amountMinor, "the bank has it once, BankSync twice")
            #expect(state["deep_read_from"] as? String == closed.description, "the range was re-read once")
            // The bank's balanceAfterTransaction chain names the booking, not just the day.
            #expect((state["chain_break"] as? String)?.contains("source id \(booking.internalID)") == true, "\(state)")
            #expect((state["chain_break"] as? String)?.contains("is listed 2 times") == true, "\(state)")
            // Both stay stored and sent: nothing is changed on a guess.
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE source_tx_id IN ($1, $1 || '-dup')", [booking.internalID]) == 2)
            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(received == stored && distinct == stored)
            let expected = "the bank's balances disagree with its transactions between \(closed) and \(closed) by "
                + Reconciliation.minorText(-booking.amountMinor) + " CZK"
            // The notice for Flowpay carries the whole detail (the table cuts it).
            let interruptions = try await e2e.run(["lag", "--interruptions", "--format", "markdown"], on: day)
            #expect(interruptions.stdout.contains(expected), "\(interruptions.stdout)")
            // A later run does not re-read the same range again, and the difference stays.
            #expect(try await e2e.run(["sync", "--min-interval", "0"], on: day.adding(days: 1)).status == 0)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'unreconciled'") == 1)
            #expect(try reconciliation(connection, source: accounts[0])["state"] as? String == "mismatch")
            let lag = try await e2e.run(["lag", "--accounts", "--format", "json"], on: day.adding(days: 1))
            #expect(lag.stdout.contains(#""differenceFrom" : "\#(closed)""#), "\(lag.stdout)")
        }
    }

    @Test func balancesInAnotherCurrencyUndatedOrOnlyAvailableGiveTheirDocumentedState() async throws {
        try await EndToEnd.with { e2e in
            let (_, accounts) = try await e2e.addGoCardlessCustomer(requisition: "odd-bal", accounts: 3, merchant: "odd-bal")
            // Without balanceAfterTransaction: the balances alone decide.
            let faults = [#"{"currency": "EUR", "chain": false}"#, #"{"undated": true, "chain": false}"#,
                          #"{"kinds": ["interimAvailable"], "chain": false}"#]
            for (account, fault) in zip(accounts, faults) {
                _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(
                    #"{"ledgerAccount": "\#(account)", "ledger": \#(fault)}"#.utf8)))
            }
            #expect(try await e2e.run(["sync"]).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            let currency = try reconciliation(connection, source: accounts[0])
            #expect(currency["state"] as? String == "not_reconcilable")
            #expect(currency["reason"] as? String == "not reconcilable (the bank's booked balances are in EUR, the account's currency is CZK)")
            let undated = try reconciliation(connection, source: accounts[1])
            #expect(undated["state"] as? String == "not_reconcilable")
            #expect(undated["reason"] as? String == "not reconcilable (the bank gives its booked balances no referenceDate or lastChangeDateTime)")
            let available = try reconciliation(connection, source: accounts[2])
            #expect(available["state"] as? String == "not_reconcilable" && available["reason"] as? String == Reconciliation.noBookedBalance)
            let lag = try await e2e.run(["lag", "--accounts", "--format", "json"])
            #expect(lag.stdout.contains(Reconciliation.noBookedBalance), "\(lag.stdout)")
            #expect(!lag.stdout.contains(#""reconciliation" : "ok (0 not reconcilable)""#))
        }
    }

    @Test func aBalanceShiftedFromOneDayOnIsAnInterruption() async throws {
        try await EndToEnd.with { e2e in
            let (_, accounts) = try await e2e.addGoCardlessCustomer(requisition: "shift-req", institution: "NOIDBANK_NOIDCZPP", merchant: "shift")
            #expect(try await e2e.run(["sync"]).status == 0)
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(
                #"{"ledgerAccount": "\#(accounts[0])", "ledger": {"shiftMinor": 12345}}"#.utf8)))
            let next = e2e.today.adding(days: 1)
            #expect(try await e2e.run(["sync", "--min-interval", "0"], on: next).status == 0)
            let connection = try e2e.connect()
            defer { connection.close() }
            let state = try reconciliation(connection, source: accounts[0])
            #expect(state["state"] as? String == "mismatch")
            #expect((state["difference_minor"] as? NSNumber)?.int64Value == 12345)
            #expect(state["reconciled_through"] as? String == e2e.today.adding(days: -SyntheticBank.booksCloseAfterDays).description)
            let interruptions = try await e2e.run(["lag", "--interruptions", "--format", "markdown"], on: next)
            #expect(interruptions.stdout.contains("disagree with its transactions") && interruptions.stdout.contains("123.45 CZK"), "\(interruptions.stdout)")
        }
    }
}
