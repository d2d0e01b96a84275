import Aggregators
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// What GoCardless's error answers become, as ops read them.
@Suite struct GoCardlessProblemTests {
    /// A 409 `AccountStateError` answers with the account itself: its `status` is the reason, not "HTTP 409".
    @Test func a409AccountStateErrorNamesTheAccountsStatus() async throws {
        try await SandboxPeers.with { peers in
            let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-1")
            try await peers.goCardlessControl(#"{"faultAccount": "\#(accounts[0])", "faultScope": "balances", "faultStatus": 409, "faultType": "AccountStateError"}"#)
            let snapshot = try await peers.goCardlessSource().accounts()
            let account = try #require(snapshot.accounts.first { $0.account.sourceAccountID == accounts[0] })
            let reason = try #require(account.missing.first?.reason)
            #expect(reason.code == "bank_unavailable")
            #expect(reason.description.contains("PROCESSING"), "\(reason)")
            #expect(!reason.description.contains("HTTP 409: HTTP 409"), "\(reason)")
            #expect(reason.description.contains(accounts[0]), "\(reason)")
        }
    }
}
