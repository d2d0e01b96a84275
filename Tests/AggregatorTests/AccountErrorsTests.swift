import Aggregators
import BankSyncCore
import Foundation
import Store
import Testing
import TestSupport

/// GoCardless's documented per-account error answers, armed in the sandbox on one of a customer's two accounts:
/// each stays that account's problem, recorded with its reason where `lag --interruptions` shows it, and the
/// customer's other account is read and stored as usual.
extension CustomerSyncTests {
    struct AccountFault: Sendable, CustomStringConvertible {
        let scope: String
        let status: Int
        let type: String?
        /// Whether the account's transactions are still stored (its metadata or its transactions refused: not).
        var accountRead: Bool { scope != "metadata" && scope != "transactions" }
        var description: String { "\(scope) \(status) \(type ?? "-")" }

        /// The sandbox control that arms this fault on `account`.
        func control(account: String, times: Int? = nil) throws -> String {
            var control: [String: Any] = ["faultAccount": account, "faultScope": scope, "faultStatus": status]
            control["faultType"] = type
            control["faultTimes"] = times
            return String(decoding: try JSONSerialization.data(withJSONObject: control), as: UTF8.self)
        }
    }

    static let accountFaults = [
        AccountFault(scope: "balances", status: 403, type: "AccountResourceUnavailable"),
        AccountFault(scope: "balances", status: 404, type: "AccountNotFoundError"),
        AccountFault(scope: "balances", status: 503, type: "ServiceError"),
        AccountFault(scope: "details", status: 403, type: "AccountEUAScopeError"),
        AccountFault(scope: "details", status: 403, type: "AccountValidEUAError"),
        AccountFault(scope: "metadata", status: 404, type: "AccountNotFoundError"),
        // The same documented answers on the account's other endpoints (GoCardless's OpenAPI file lists them for
        // each of metadata, details, balances and transactions).
        AccountFault(scope: "balances", status: 403, type: "AccountAccessForbidden"),
        AccountFault(scope: "balances", status: 403, type: "AccountEUAScopeError"),
        AccountFault(scope: "details", status: 404, type: "AccountNotFoundError"),
        AccountFault(scope: "details", status: 503, type: "ServiceError"),
        AccountFault(scope: "metadata", status: 403, type: "AccountAccessForbidden"),
        AccountFault(scope: "transactions", status: 403, type: "AccountResourceUnavailable"),
        AccountFault(scope: "transactions", status: 403, type: "AccountAccessForbidden"),
        AccountFault(scope: "transactions", status: 403, type: "AccountEUAScopeError"),
        AccountFault(scope: "transactions", status: 403, type: "AccountValidEUAError"),
        AccountFault(scope: "transactions", status: 404, type: "AccountNotFoundError"),
        AccountFault(scope: "transactions", status: 503, type: "ServiceError"),
    ]

    @Test(arguments: CustomerSyncTests.accountFaults)
    func oneAccountsRefusalLeavesTheOtherAccountSynced(_ fault: AccountFault) async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m1", source: .gocardless, sourceRef: "sandbox-req-1")
                let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
                try await peers.goCardlessControl(fault.control(account: accounts[0]))
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.problem != nil, "the refusal is reported")
                let other = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[1]])
                #expect(try count(store, "SELECT count(*) FROM transactions WHERE account_id = $1", [other]) > 500, "the other account's bookings are stored")
                #expect(try store.bookedThrough(accountID: other) == today)
                #expect(try count(store, "SELECT count(*) FROM balances WHERE account_id = $1", [other]) > 0)
                let refused = try store.connection.queryValue(Int64.self, "SELECT id FROM accounts WHERE source_account_id = $1", [accounts[0]])
                let stored = try count(store, "SELECT count(*) FROM transactions WHERE account_id = $1", [refused])
                #expect(fault.accountRead ? stored > 500 : stored == 0, "only what was refused is missing")
                let code = try store.connection.queryValue(String.self, """
                    SELECT code FROM sync_events WHERE account_id = $1 AND level IN ('warning', 'error') ORDER BY id DESC LIMIT 1
                    """, [refused])
                let shown = try store.interruptions().first { $0.reason == code }
                #expect(shown?.customers.count == 1, "`lag --interruptions` shows the account's reason (\(code))")
            }
        }
    }
}
