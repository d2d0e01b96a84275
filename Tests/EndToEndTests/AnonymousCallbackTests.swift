import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// Anyone can call the consent callbacks: a flood of forged ones is counted in memory and in `/metrics`, and
/// writes nothing to the database (each used to insert a `sync_events` row, which every scrape then read).
@Suite struct AnonymousCallbackTests {
    @Test func twoThousandForgedConsentCallbacksWriteNoEvent() async throws {
        try await EndToEnd.with { e2e in
            try await ServeHarness.with(e2e, extraEnvironment: ["BANKSYNC_CLIENT_RATE_PER_MINUTE": "1000000", "BANKSYNC_PRIORITY_SYNC_POLL": "0"]) { serve in
                let connection = try e2e.connect()
                defer { connection.close() }
                let before = try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events")
                let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var statuses: [Int] = []
                            for index in 0..<250 {
                                let url = index % 5 == 0 ? "\(serve.baseURL)/consents/berlingroup/callback"
                                    : "\(serve.baseURL)/consents/gocardless/callback?ref=forged-\(worker)-\(index)"
                                statuses.append(try await serve.get(url).status)
                            }
                            return statuses
                        }
                    }
                    return try await group.reduce([], +)
                }
                #expect(statuses.count == 2_000)
                #expect(statuses.allSatisfy { $0 == 404 || $0 == 400 }, "\(Set(statuses))")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM sync_events") == before, "no event was written")
                let metrics = try await serve.get(serve.metricsURL).body
                #expect(metrics.contains(#"banksync_consent_callbacks_refused{reason="unknown_state"} 1600"#), "\(metrics.prefix(600))")
                #expect(metrics.contains(#"banksync_consent_callbacks_refused{reason="malformed"} 400"#))
            }
        }
    }
}
