@testable import PullAPI
import Testing

/// The bucket table is bounded: ever new addresses make it forget the least recently used ones.
@Suite struct RateLimiterTests {
    @Test func theTableKeepsAtMostItsCapacityForgettingTheLeastRecentlyUsed() async {
        let limiter = RateLimiter<String>(perMinute: 1, capacity: 3)
        for address in ["a", "b", "c"] { #expect(await limiter.admit(address) == nil) }
        #expect(await limiter.admit("a") != nil, "a is over its limit (and now the most recently used)")
        for index in 0..<1_000 { _ = await limiter.admit("rotating-\(index)") }
        #expect(await limiter.count == 3)
        // Many new addresses later, a was forgotten with the others: only the newest three are kept.
        #expect(await limiter.admit("rotating-999") != nil, "the most recent one is still kept and still limited")
    }

    @Test func leastRecentlyUsedOrderFollowsReadsAndWrites() {
        var table = LeastRecentlyUsed<String, Int>(capacity: 3)
        table["a"] = 1
        table["b"] = 2
        table["c"] = 3
        _ = table["a"]
        table["d"] = 4   // b is the least recently used
        #expect(table.keysByRecency == ["d", "a", "c"])
        #expect(table["b"] == nil && table["a"] == 1 && table.count == 3)
    }
}
