import Foundation

/// A token bucket per API key: `perMinute` requests a minute with bursts up to the same number.
actor RateLimiter {
    let perMinute: Double
    private var buckets: [Int64: (tokens: Double, at: ContinuousClock.Instant)] = [:]

    init(perMinute: Int) { self.perMinute = Double(max(perMinute, 1)) }

    /// Nil when the request may proceed; otherwise the seconds until one may.
    func admit(_ key: Int64) -> Int? {
        let now = ContinuousClock.now
        var bucket = buckets[key] ?? (perMinute, now)
        let elapsed = bucket.at.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(perMinute, bucket.tokens + seconds * perMinute / 60)
        bucket.at = now
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return Int(((1 - bucket.tokens) * 60 / perMinute).rounded(.up))
    }
}
