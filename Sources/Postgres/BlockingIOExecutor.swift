import Dispatch

/// A task executor with its own serial dispatch queue, for code that makes blocking libpq calls.
///
/// libpq's calls block their thread until the server answers. On Swift's cooperative pool (one thread
/// per core) a few blocked calls can starve every other task — including the one whose open transaction
/// or COPY the blocked calls are waiting for: a deadlock. A serial queue without a target runs on
/// libdispatch's overcommit pool, which adds threads when they block, so work under this executor never
/// takes cooperative threads hostage.
public final class BlockingIOExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Runs `body` (and the child tasks it starts) on a dedicated blocking-I/O executor. Every task that uses
/// a `PostgresConnection` should run inside one.
public func withBlockingIOExecutor<T>(_ label: String = "banksync.postgres", _ body: () async throws -> T) async rethrows -> T {
    try await withTaskExecutorPreference(BlockingIOExecutor(label: label), operation: body)
}
