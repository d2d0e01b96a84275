import Foundation
import SyncEngine

/// A one-line progress bar on a terminal (customers done/total, new/pushed, rate); silent otherwise, where
/// the structured log lines tell the story.
final class ProgressDisplay: @unchecked Sendable {
    let isTerminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private let started = Date()
    private var newTransactions = 0
    private var pushed = 0
    private var failed = 0

    func update(done: Int, total: Int, outcome: CustomerOutcome) {
        lock.lock()
        defer { lock.unlock() }
        newTransactions += outcome.newTransactions
        pushed += outcome.pushed
        if !outcome.succeeded { failed += 1 }
        guard isTerminal else { return }
        let width = 30
        let filled = total > 0 ? min(width, done * width / total) : width
        let rate = Double(newTransactions) / max(Date().timeIntervalSince(started), 0.001)
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(done)/\(total) customers  \(newTransactions) new  \(pushed) pushed  \(failed) failed  \(Int(rate)) tx/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
