import BankSyncCore

/// Admits a run's workers to sync one customer each, at most `limit` at a time. With a controller
/// (`--concurrency auto`) the limit follows it; without one it stays what it was given. Workers over the limit wait
/// here holding no customer. Workers that already hold a database connection are admitted first (the last to
/// wait first), so the connections a run opens follow the most it synced at once, not how many workers it has.
actor ConcurrencyGate {
    private var controller: ConcurrencyController?
    private(set) var limit: Int
    private var active = 0
    private(set) var peak = 0
    private var waiters: [(id: Int, connected: Bool, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiterID = 0
    private var window: [Double] = []
    private var throttleAnswersAtWindowStart = ThrottleSignals.soFar
    private let onChange: @Sendable (ConcurrencyController.Change, Int, Double) -> Void

    init(fixed limit: Int) {
        self.limit = max(1, limit)
        self.controller = nil
        self.onChange = { _, _, _ in }
    }

    init(adaptive bounds: ConcurrencyController.Bounds,
         onChange: @escaping @Sendable (ConcurrencyController.Change, Int, Double) -> Void) {
        let controller = ConcurrencyController(bounds: bounds)
        self.controller = controller
        self.limit = controller.limit
        self.onChange = onChange
    }

    /// Waits until one more customer may be synced (`connected`: the worker holds a database connection);
    /// cancellation ends the wait.
    func enter(connected: Bool) async throws {
        if active < limit, connected || waiters.isEmpty {
            admit()
            return
        }
        let id = nextWaiterID
        nextWaiterID += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((id, connected, continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// The worker is done with its customer (`seconds` it took, nil when it found none to sync).
    func leave(afterSeconds seconds: Double?) {
        active -= 1
        if let seconds, controller != nil { observe(seconds) }
        wakeWaiters()
    }

    /// The server has no connection left for another worker: no more customers at once than are being synced now.
    func lowerLimitToActive() {
        limit = max(1, min(limit, active))
    }

    private func admit() {
        active += 1
        peak = max(peak, active)
    }

    private func wakeWaiters() {
        while active < limit, !waiters.isEmpty {
            admit()
            let next = waiters.lastIndex(where: \.connected) ?? waiters.startIndex
            waiters.remove(at: next).continuation.resume()
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    private func observe(_ seconds: Double) {
        guard var controller else { return }
        window.append(seconds)
        guard window.count >= controller.windowSize else { return }
        let median = window.sorted()[window.count / 2]
        let throttles = ThrottleSignals.soFar - throttleAnswersAtWindowStart
        window.removeAll(keepingCapacity: true)
        throttleAnswersAtWindowStart = ThrottleSignals.soFar
        let change = controller.observe(medianSeconds: median, throttleAnswers: throttles)
        self.controller = controller
        if change != .held {
            limit = controller.limit
            onChange(change, limit, median)
        }
    }
}
