/// How many customers a run syncs at once under `--concurrency auto`: a latency-gradient controller, decided per
/// window of finished customers (never by the clock, so the same observations give the same limits).
///
/// Each step up is checked: by Little's law a window's throughput is about `limit / median`; when the step did not
/// buy at least half the throughput it added in customers, judged on the mean median of two windows after it (the machine
/// or the database was already the bottleneck, so each customer just took longer), the limit goes back to where it
/// was and stays there for a few windows before trying again.
///
/// A customer's sync is mostly waiting — for the aggregator (tens to hundreds of milliseconds a call, ~5 calls a
/// customer), for Flowpay, for the database. While more customers at once do not make each one slower, nothing is
/// queueing: the limit grows. When each customer takes clearly longer than when nothing queued (the `baseline`,
/// the fastest window median seen, drifting up slowly so a run whose customers get heavier is not held down by
/// its first light ones), something — CPU, the database, the aggregator — is saturated: the limit shrinks a little,
/// but never below where the run started (customers of uneven size make medians noisy; a saturated machine runs
/// no slower at the starting number than with fewer, so a noisy window must not talk the run down to a crawl).
/// Only a throttle answer (`ThrottleSignals`: a short-term 429 from the aggregator or Flowpay) takes it lower: it
/// halves it (down to the minimum) and holds it there for a few windows.
public struct ConcurrencyController: Sendable {
    public struct Bounds: Sendable, Equatable {
        public var initial: Int
        public var minimum: Int
        public var maximum: Int

        public init(initial: Int, minimum: Int, maximum: Int) {
            self.minimum = max(1, minimum)
            self.maximum = max(self.minimum, maximum)
            self.initial = min(max(initial, self.minimum), self.maximum)
        }
    }

    public enum Change: Sendable, Equatable {
        case grew, plateau, saturated, throttled, held
    }

    public let bounds: Bounds
    public private(set) var limit: Int
    /// Seconds a customer takes when nothing queues: the fastest window median, drifting up `drift` per window.
    public private(set) var baseline: Double?
    private var quietWindowsLeft = 0
    private var throttledRecently = false
    /// The last step up: where it came from and went, and the throughput (customers in flight per second of median)
    /// before it; judged on the second and third windows after it together (the first is mostly customers started
    /// before it). One window's median alone is noisy enough (customers of uneven size) to pass a step that bought
    /// nothing: at 20 ms an aggregator call, on a machine already saturated at 32, a run climbed to 96 that way.
    private var lastStep: (from: Int, to: Int, throughput: Double)?
    private var stepWindowsToSkip = 0
    private var stepMedians: [Double] = []

    /// A window median within this factor of the baseline counts as "nothing queues".
    static let calm = 1.3
    /// Beyond this factor, customers queue for something saturated.
    static let saturated = 2.0
    static let drift = 1.02
    /// Windows without growth after a throttle answer, and after a step up that bought too little.
    static let holdAfterThrottle = 3
    static let holdAfterPlateau = 5
    /// A step up must raise throughput by at least this share of the share it added in customers (a step of a
    /// quarter more customers must bring an eighth more throughput).
    static let worthwhileShare = 0.5
    /// Windows whose mean throughput judges a step (after the one skipped).
    static let windowsJudgingAStep = 2

    public init(bounds: Bounds) {
        self.bounds = bounds
        self.limit = bounds.initial
    }

    /// Finished customers per decision: enough for a median, and as many as are in flight (so the second window
    /// after a step is customers started after it).
    public var windowSize: Int { max(8, limit) }

    /// One window's median seconds per customer and the throttle answers seen during it; returns what changed.
    public mutating func observe(medianSeconds: Double, throttleAnswers: Int) -> Change {
        let baseline = min((self.baseline ?? medianSeconds) * Self.drift, medianSeconds)
        self.baseline = baseline
        // One throttle episode, one cut: the answers of customers already in flight when it was cut (they retry,
        // and each retry answers 429 again) arrive during the hold and are not counted twice.
        if throttleAnswers > 0, !throttledRecently {
            lastStep = nil
            stepWindowsToSkip = 0
            stepMedians = []
            quietWindowsLeft = Self.holdAfterThrottle
            throttledRecently = true
            return set(limit / 2, .throttled)
        }
        if let step = lastStep {
            guard stepWindowsToSkip == 0 else {
                stepWindowsToSkip -= 1
                return .held
            }
            stepMedians.append(medianSeconds)
            guard stepMedians.count == Self.windowsJudgingAStep else { return .held }
            lastStep = nil
            // Little's law over both windows: the limit over their mean median (a mean of two throughputs would let
            // one light window carry the step).
            let throughput = Double(limit) / max(stepMedians.reduce(0, +) / Double(stepMedians.count), 1e-6)
            stepMedians = []
            if throughput < step.throughput * (1 + Double(step.to - step.from) / Double(step.from) * Self.worthwhileShare) {
                quietWindowsLeft = Self.holdAfterPlateau
                return set(step.from, .plateau)
            }
        }
        if quietWindowsLeft > 0 {
            quietWindowsLeft -= 1
            if quietWindowsLeft == 0 { throttledRecently = false }
            return .held
        }
        throttledRecently = false
        if medianSeconds > baseline * Self.saturated {
            guard limit > bounds.initial else { return .held }
            return set(max(limit * 3 / 4, bounds.initial), .saturated)
        }
        if medianSeconds <= baseline * Self.calm {
            let from = limit
            let throughput = Double(limit) / max(medianSeconds, 1e-6)
            let change = set(limit + max(1, limit / 4), .grew)
            if change == .grew {
                lastStep = (from, limit, throughput)
                stepWindowsToSkip = 1
            }
            return change
        }
        return .held
    }

    private mutating func set(_ proposed: Int, _ change: Change) -> Change {
        let next = min(max(proposed, bounds.minimum), bounds.maximum)
        guard next != limit else { return .held }
        limit = next
        return change
    }
}
