import Aggregators
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// A 5xx (a 503 `ServiceError` included) is tried again within the run, a bounded number of times: a bank
/// briefly down does not cost an account its day.
@Suite struct SourceRetryTests {
    @Test func aGoCardless503ServiceErrorOnBalancesIsRetriedThenRead() async throws {
        try await SandboxPeers.with { peers in
            let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
            try await peers.goCardlessControl(#"{"faultAccount": "\#(accounts[0])", "faultScope": "balances", "faultStatus": 503, "faultType": "ServiceError", "faultTimes": 1}"#)
            let snapshot = try await peers.goCardlessSource().accounts()
            let account = try #require(snapshot.accounts.first { $0.account.sourceAccountID == accounts[0] })
            #expect(account.missing.isEmpty, "\(account.missing)")
            #expect(account.account.balances.count == 3, "closingBooked, openingBooked and interimAvailable, as the sandbox reports them")
        }
    }

    @Test func aGoCardless503OnTransactionsIsRetriedThenStreamed() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource()
            let account = try await source.accounts().accounts[0]
            try await peers.goCardlessControl(#"{"faultAccount": "\#(account.account.sourceAccountID)", "faultScope": "transactions", "faultStatus": 503, "faultType": "ServiceError", "faultTimes": 2}"#)
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: false)
            let (_, transactions) = try await collect(source.transactions(of: account, window: window))
            #expect(!transactions.isEmpty)
        }
    }

    @Test func aGoCardless503ThatLastsIsReportedAfterThreeAttempts() async throws {
        try await SandboxPeers.with { peers in
            let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
            try await peers.goCardlessControl(#"{"faultAccount": "\#(accounts[0])", "faultScope": "balances", "faultStatus": 503, "faultType": "ServiceError", "faultTimes": 3}"#)
            let snapshot = try await peers.goCardlessSource().accounts()
            let account = try #require(snapshot.accounts.first { $0.account.sourceAccountID == accounts[0] })
            #expect(account.missing.map(\.reason.code) == ["bank_unavailable"], "three attempts, then the account goes without its balances")
            // The fault is used up: the third attempt was the last one made.
            let again = try await peers.goCardlessSource().accounts()
            #expect(again.accounts.first { $0.account.sourceAccountID == accounts[0] }?.missing.isEmpty == true)
        }
    }

    @Test func aBerlinGroupBanks503IsRetriedThenRead() async throws {
        try await SandboxPeers.with { peers in
            try await peers.berlinGroupControl(#"{"unavailable": 1}"#)
            let snapshot = try await peers.berlinGroupSource().accounts()
            #expect(!snapshot.accounts.isEmpty)
        }
    }
}
