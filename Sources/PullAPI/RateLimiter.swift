import Foundation

/// A token bucket per key (an API key's id, a client address): `perMinute` requests a minute, bursts up to
/// that. Buckets idle for over a minute are full again and are forgotten, so a flood from many addresses
/// cannot grow the table without bound.
actor RateLimiter<Key: Hashable & Sendable> {
    let perMinute: Double
    private var buckets: [Key: (tokens: Double, at: ContinuousClock.Instant)] = [:]
    private var lastSweep = ContinuousClock.now

    init(perMinute: Int) { self.perMinute = Double(max(perMinute, 1)) }

    /// Nil when the request may proceed; otherwise the seconds until one may.
    func admit(_ key: Key) -> Int? {
        let now = ContinuousClock.now
        sweep(now)
        var bucket = buckets[key] ?? (perMinute, now)
        bucket.tokens = min(perMinute, bucket.tokens + Self.seconds(bucket.at.duration(to: now)) * perMinute / 60)
        bucket.at = now
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return Int(((1 - bucket.tokens) * 60 / perMinute).rounded(.up))
    }

    private func sweep(_ now: ContinuousClock.Instant) {
        guard buckets.count > 1_000, lastSweep.duration(to: now) > .seconds(10) else { return }
        lastSweep = now
        buckets = buckets.filter { $0.value.at.duration(to: now) < .seconds(60) }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
