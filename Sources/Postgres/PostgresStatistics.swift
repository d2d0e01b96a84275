import Synchronization

/// Statements this process sent and waited for, over every connection: what a benchmark divides by the
/// customers it synced to see the database cost of one (`sync_runs.counts.dbRoundTrips`).
public enum PostgresStatistics {
    private static let roundTrips = Atomic<Int>(0)

    public static var roundTripsSoFar: Int { roundTrips.load(ordering: .relaxed) }

    static func noteRoundTrip(_ count: Int = 1) {
        roundTrips.add(count, ordering: .relaxed)
    }
}
