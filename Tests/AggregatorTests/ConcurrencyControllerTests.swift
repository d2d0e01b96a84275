import SyncEngine
import Testing

/// The controller behind `--concurrency auto`, fed window medians directly: the same observations give the
/// same limits (no clock anywhere).
@Suite struct ConcurrencyControllerTests {
    let bounds = ConcurrencyController.Bounds(initial: 32, minimum: 4, maximum: 128)

    @Test func whileCustomersTakeNoLongerTheLimitGrowsToItsMaximum() {
        var controller = ConcurrencyController(bounds: bounds)
        var limits: [Int] = []
        for _ in 0..<30 {
            _ = controller.observe(medianSeconds: 1.0, throttleAnswers: 0)
            limits.append(controller.limit)
        }
        #expect(limits.first == 40, "the first calm window adds a quarter (\(limits))")
        #expect(limits == limits.sorted(), "never shrinks while nothing queues (\(limits))")
        #expect(controller.limit == 128, "stops at the maximum (\(limits))")
    }

    @Test func aStepUpThatBuysNoThroughputIsTakenBack() {
        var controller = ConcurrencyController(bounds: bounds)
        // 32 → 40, a window of customers started before the step, two judging it and 40 → 50, again, 50 → 62.
        for _ in 0..<7 { _ = controller.observe(medianSeconds: 0.1, throttleAnswers: 0) }
        #expect(controller.limit == 62)
        #expect(controller.observe(medianSeconds: 0.124, throttleAnswers: 0) == .held, "the window right after a step is not judged")
        #expect(controller.observe(medianSeconds: 0.124, throttleAnswers: 0) == .held, "one window alone does not judge it")
        // 62 customers at 0.124 s each: 500 a second, as 50 at 0.1 — the machine was already the bottleneck.
        #expect(controller.observe(medianSeconds: 0.124, throttleAnswers: 0) == .plateau)
        #expect(controller.limit == 50)
        for _ in 0..<5 { #expect(controller.observe(medianSeconds: 0.1, throttleAnswers: 0) == .held, "held a while before trying again") }
        #expect(controller.observe(medianSeconds: 0.1, throttleAnswers: 0) == .grew)
        #expect(controller.limit == 62)
        _ = controller.observe(medianSeconds: 0.11, throttleAnswers: 0)
        _ = controller.observe(medianSeconds: 0.11, throttleAnswers: 0)
        #expect(controller.observe(medianSeconds: 0.11, throttleAnswers: 0) == .grew, "a step that bought 13% more throughput is kept")
    }

    @Test func oneLuckyWindowDoesNotKeepAStepThatBoughtNothing() {
        var controller = ConcurrencyController(bounds: bounds)
        _ = controller.observe(medianSeconds: 0.1, throttleAnswers: 0)   // 32 → 40: 320 customers a second before
        #expect(controller.limit == 40)
        _ = controller.observe(medianSeconds: 0.125, throttleAnswers: 0)  // started before the step
        // A light window (40 at 0.1 s: 400 a second) and a usual one (40 at 0.15 s: 267): 333 on average, not the 360 the
        // step must bring.
        #expect(controller.observe(medianSeconds: 0.1, throttleAnswers: 0) == .held)
        #expect(controller.observe(medianSeconds: 0.15, throttleAnswers: 0) == .plateau)
        #expect(controller.limit == 32)
    }

    @Test func customersTakingTwiceAsLongAsTheBaselineShrinkItButNotBelowTheStart() {
        var controller = ConcurrencyController(bounds: bounds)
        for _ in 0..<4 { _ = controller.observe(medianSeconds: 0.1, throttleAnswers: 0) }   // 32 → 40, judged, → 50
        #expect(controller.limit == 50)
        _ = controller.observe(medianSeconds: 0.15, throttleAnswers: 0)
        _ = controller.observe(medianSeconds: 0.15, throttleAnswers: 0)
        #expect(controller.observe(medianSeconds: 0.15, throttleAnswers: 0) == .plateau, "1.5×: the step to 50 bought nothing")
        #expect(controller.limit == 40)
        for _ in 0..<5 { _ = controller.observe(medianSeconds: 0.15, throttleAnswers: 0) }
        #expect(controller.baseline.map { $0 < 0.125 } == true, "slow windows do not raise the baseline beyond its drift")
        #expect(controller.observe(medianSeconds: 0.3, throttleAnswers: 0) == .saturated)
        #expect(controller.limit == 32, "saturation alone never goes below where the run started")
        #expect(controller.observe(medianSeconds: 0.4, throttleAnswers: 0) == .held)
        #expect(controller.limit == 32)
    }

    @Test func aThrottleAnswerHalvesTheLimitOncePerEpisodeAndHoldsItForThreeWindows() {
        var controller = ConcurrencyController(bounds: bounds)
        #expect(controller.observe(medianSeconds: 1.0, throttleAnswers: 2) == .throttled)
        #expect(controller.limit == 16)
        for _ in 0..<3 {
            #expect(controller.observe(medianSeconds: 1.0, throttleAnswers: 3) == .held, "the retries of customers in flight are the same episode")
        }
        #expect(controller.limit == 16)
        #expect(controller.observe(medianSeconds: 1.0, throttleAnswers: 0) == .grew)
        #expect(controller.limit == 20)
        _ = controller.observe(medianSeconds: 1.0, throttleAnswers: 0)
        #expect(controller.observe(medianSeconds: 1.0, throttleAnswers: 1) == .throttled, "a new episode after the hold cuts again")
        #expect(controller.limit == 10)
    }

    @Test func theLimitStaysWithinItsBounds() {
        var controller = ConcurrencyController(bounds: .init(initial: 6, minimum: 4, maximum: 8))
        for _ in 0..<5 { _ = controller.observe(medianSeconds: 1.0, throttleAnswers: 1) }
        #expect(controller.limit == 4, "never below the minimum")
        var growing = ConcurrencyController(bounds: .init(initial: 6, minimum: 4, maximum: 8))
        for _ in 0..<5 { _ = growing.observe(medianSeconds: 1.0, throttleAnswers: 0) }
        #expect(growing.limit == 8, "never above the maximum")
        let odd = ConcurrencyController.Bounds(initial: 500, minimum: 0, maximum: 10)
        #expect(odd.initial == 10 && odd.minimum == 1, "bounds are made consistent")
        #expect(ConcurrencyController(bounds: bounds).windowSize == 32, "a decision per turn of the customers in flight")
    }
}
