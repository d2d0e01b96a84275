import Aggregators
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// One GoCardless client is shared by every customer of a run: its token requests are shared too.
@Suite struct GoCardlessTokensTests {
    @Test func concurrentCustomersShareOneTokenRequest() async throws {
        try await SandboxPeers.with { peers in
            // The client a run gives its GoCardless customers (a pool sized for them: the default 8 connections made 16
            // customers wait past the pool's timeout under load).
            let http = peers.goCardlessConfiguration.makeHTTPClient()
            let client = GoCardlessClient(configuration: peers.goCardlessConfiguration, httpClient: http)
            let requisitions = ["sandbox-req-1", "sandbox-req-2", "sandbox-req-3"]
            let read: Int
            do {
                read = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<16 {
                        let source = GoCardlessSource(client: client, requisitionID: requisitions[index % requisitions.count])
                        group.addTask { try await source.accounts().accounts.count }
                    }
                    return try await group.reduce(0, +)
                }
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
            #expect(read > 16)
            #expect(await peers.goCardless.tokenRequests == 1, "16 customers at once, one token/new")
            #expect(await peers.goCardless.refreshRequests == 0)
        }
    }

    @Test func a429FromTokenNewIsWaitedOut() async throws {
        try await SandboxPeers.with { peers in
            try await peers.goCardlessControl(#"{"tokenRateLimited": 1}"#)
            let snapshot = try await peers.goCardlessSource().accounts()
            #expect(snapshot.accounts.count == 2)
            #expect(await peers.goCardless.tokenRequests == 2, "the 429, then the token after its Retry-After")
        }
    }

    @Test func a429FromTokenNewThatLastsIsRateLimitedNotUnavailable() async throws {
        try await SandboxPeers.with { peers in
            try await peers.goCardlessControl(#"{"tokenRateLimited": 10}"#)
            await #expect {
                _ = try await peers.goCardlessSource().accounts()
            } throws: { error in
                // A retry time is named (when exactly depends on how long the waits took: no clock comparison here).
                guard case SourceError.rateLimited(nil, _?, _)? = error as? SourceError else { return false }
                return true
            }
            #expect(await peers.goCardless.tokenRequests == 4, "one call and three bounded waits")
        }
    }
}
