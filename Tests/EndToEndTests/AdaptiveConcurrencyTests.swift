import Foundation
import Sandbox
import Store
import Testing
import TestSupport

/// `banksync sync --concurrency auto` against the GoCardless sandbox: an aggregator asking it to slow down (a
/// per-minute 429) makes it sync fewer customers at once, and a fixed `--concurrency N` never syncs more than N.
/// What each run did is read from its `sync_runs.counts.concurrency` (start, end, peak), not from any clock.
@Suite(.serialized) struct AdaptiveConcurrencyTests {
    @Test func aThrottlingAggregatorHalvesCustomersSyncedAtOnceAndAFixedNumberIsNeverExceeded() async throws {
        let fleet = SandboxFleet(size: 40, seed: 7, accounts: 1...1, historyDays: 90...90, berlinGroupEvery: 0)
        try await EndToEnd.with { e2e in
            #expect(try await e2e.registerFleet(fleet).status == 0)

            // Every 8th account call of the run answers GoCardless's per-minute 429 ("try again in 1 seconds"): every
            // window of finished customers sees throttle answers, however the machine's load orders the calls (with
            // only the first calls throttled, a loaded CI machine once closed two windows before the answers counted).
            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(#"{"apiRateLimitedEvery": 8}"#.utf8)))
            let adaptive = try await e2e.run(["sync", "--concurrency", "auto", "--max-concurrency", "16"])
            #expect(adaptive.status == 0, "\(adaptive.stdout.suffix(2_000)) \(adaptive.stderr.suffix(2_000))")
            let first = try concurrency(of: e2e, run: 1)
            #expect(first.start == 16, "auto starts at 32, within --max-concurrency 16 (\(first))")
            let changes = (adaptive.stdout + adaptive.stderr).split(separator: "\n").filter { $0.contains("synced at once") || $0.contains("429") || $0.contains("ate limit") }
            #expect(first.end < first.start, "throttle answers lower it (\(first)): \(changes.joined(separator: "\n"))")
            #expect(first.peak <= 16)

            _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(#"{"apiRateLimitedEvery": 0}"#.utf8)))
            let fixed = try await e2e.run(["sync", "--concurrency", "3", "--min-interval", "0"])
            #expect(fixed.status == 0, "\(fixed.stdout.suffix(2_000))")
            let second = try concurrency(of: e2e, run: 2)
            #expect(second.start == 3 && second.end == 3 && (1...3).contains(second.peak), "\(second)")

            let (stored, received, distinct) = try await e2e.assertExactlyOnce()
            #expect(stored == received && received == distinct, "stored \(stored), received \(received), distinct \(distinct)")
        }
    }

    func concurrency(of e2e: EndToEnd, run: Int) throws -> (start: Int, end: Int, peak: Int) {
        let store = try e2e.connect()
        let values = try store.queryValue(String.self, """
            SELECT concat_ws(',', counts->'concurrency'->>'start', counts->'concurrency'->>'end', counts->'concurrency'->>'peak')
            FROM sync_runs ORDER BY id OFFSET \(run - 1) LIMIT 1
            """).split(separator: ",").compactMap { Int($0) }
        guard values.count == 3 else { throw Mismatch(detail: "run \(run) recorded no concurrency") }
        return (values[0], values[1], values[2])
    }

    struct Mismatch: Error { let detail: String }
}
