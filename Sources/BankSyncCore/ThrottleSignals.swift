import Synchronization

/// Answers from a peer that mean "slower, please" (an aggregator's or Flowpay's short-term 429), counted over the
/// whole process. A sync run reads the count between two looks and syncs fewer customers at once when it grew
/// (`--concurrency auto`). A quota that is used up for the day (GoCardless's per-account `RateLimitError`, a
/// Berlin Group bank's daily reads) is not a throttle: syncing fewer customers at once would not give it back.
public enum ThrottleSignals {
    private static let answers = Atomic<Int>(0)

    public static var soFar: Int { answers.load(ordering: .relaxed) }

    public static func note() {
        answers.add(1, ordering: .relaxed)
    }
}
