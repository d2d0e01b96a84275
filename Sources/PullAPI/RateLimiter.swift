import Foundation

/// A token bucket per key (an API key's id, a client address): `perMinute` requests a minute, bursts up to
/// that. The table holds at most `capacity` buckets: past that the least recently used one is forgotten (a
/// forgotten bucket is a full one), so a flood from ever new addresses cannot grow it without bound.
actor RateLimiter<Key: Hashable & Sendable> {
    struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    let perMinute: Double
    private var buckets: LeastRecentlyUsed<Key, Bucket>

    init(perMinute: Int, capacity: Int = 50_000) {
        self.perMinute = Double(max(perMinute, 1))
        buckets = LeastRecentlyUsed(capacity: capacity)
    }

    /// How many buckets are kept.
    var count: Int { buckets.count }

    /// Nil when the request may proceed; otherwise the seconds until one may.
    func admit(_ key: Key) -> Int? {
        let now = ContinuousClock.now
        var bucket = buckets[key] ?? Bucket(tokens: perMinute, at: now)
        bucket.tokens = min(perMinute, bucket.tokens + Self.seconds(bucket.at.duration(to: now)) * perMinute / 60)
        bucket.at = now
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return Int(((1 - bucket.tokens) * 60 / perMinute).rounded(.up))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
