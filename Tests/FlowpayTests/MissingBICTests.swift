import BankSyncCore
import Flowpay
import Foundation
import Sandbox
import Store
@testable import SyncEngine
import Testing
import TestSupport

/// Flowpay requires a BIC for every account: derived from the IBAN's bank code where the central bank's list
/// allows, else the account is an interruption ops see and its transactions wait with it.
@Suite struct MissingBICTests {
    /// An account whose bank gives no BIC and whose bank code is in no list: left out of the accounts call, its
    /// transactions are not POSTed (Flowpay would get rows of an account it does not know) but wait, counted as
    /// unsendable, and `lag --interruptions` names it. Once its BIC is known, they go.
    @Test func anAccountWithoutBICIsAnInterruptionAndItsRowsWait() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 4)
                let unknownBank = "SK3112000000198742637541"   // bank code 1200: in no list
                let bicless = try await fixture.store.upsertAccount(customerID: target.customerID, BankAccount(
                    sourceAccountID: "no-bic", iban: unknownBank, currency: "EUR", name: "Savings"))
                try await fixture.addTransactions(3, accountID: bicless, customerID: target.customerID, salt: "no bic")
                let drain = OutboxDrain(store: fixture.store, flowpay: flowpay.client)

                let outcome = try await drain.drain(target)
                #expect(outcome.accountsSkipped == 1)
                #expect(outcome.transactionsPushed == 4)
                let received = await flowpay.state.snapshot().transactions[target.flowpayCustomerID.uuidString.lowercased()] ?? []
                #expect(received.count == 4 && received.allSatisfy { $0.iban != unknownBank }, "no row of the unknown account is sent")
                #expect(try fixture.store.connection.queryValue(Int.self,
                    "SELECT count(*) FROM transactions WHERE account_id = $1 AND \(queuedSQL)", [bicless]) == 3)
                let lag = try #require(try fixture.store.lagReport().first { $0.flowpayCustomerID == target.flowpayCustomerID })
                #expect(lag.unsendable == 3 && lag.waitingToPush == 0)
                #expect(lag.status == "missing_bic")
                let interruption = try #require(try fixture.store.interruptions().first { $0.reason == "missing_bic" })
                #expect(interruption.customers.first?.message.contains(unknownBank) == true, "\(interruption.customers)")

                // The bank reports its BIC now: the account and its waiting rows reach Flowpay.
                _ = try await fixture.store.upsertAccount(customerID: target.customerID, BankAccount(
                    sourceAccountID: "no-bic", iban: unknownBank, bic: "KOMASK2X", currency: "EUR", name: "Savings"))
                let next = try await drain.drain(target)
                #expect(next.accountsSkipped == 0 && next.transactionsPushed == 3)
                #expect(try fixture.store.interruptions().allSatisfy { $0.reason != "missing_bic" })
            }
        }
    }

    /// A Czech account whose bank gives no BIC gets the one its bank code stands for, and is pushed with it.
    @Test func aBICIsDerivedFromTheBankCode() async throws {
        try await TestDatabase.with { database in
            try await FlowpayHarness.with { flowpay in
                var fixture = try await PushFixture.make(database)
                let target = try await fixture.addCustomer(transactions: 1)
                let account = try await fixture.store.upsertAccount(customerID: target.customerID, BankAccount(
                    sourceAccountID: "derived", iban: "CZ55 2700 0000 0012 3456 7890", currency: "CZK"))
                #expect(try fixture.store.connection.queryValue(String?.self, "SELECT bic FROM accounts WHERE id = $1", [account]) == "BACXCZPP")
                try await fixture.addTransactions(2, accountID: account, customerID: target.customerID, salt: "derived")
                let outcome = try await OutboxDrain(store: fixture.store, flowpay: flowpay.client).drain(target)
                #expect(outcome.accountsSkipped == 0 && outcome.transactionsPushed == 3)
                let accounts = await flowpay.state.snapshot().accounts[target.flowpayCustomerID.uuidString.lowercased()] ?? ""
                #expect(accounts.contains("BACXCZPP"))
            }
        }
    }
}
