import BankSyncCore
import Foundation

/// A transaction the mapping could not read (an impossible date, an amount with more digits than its
/// currency has, a required field missing). It is set aside with its reason and raw JSON, and the rest of
/// the window is stored: one bad row never fails its account's window.
public struct RefusedRow: Sendable, Equatable {
    public let account: String
    public let field: String
    public let reason: String
    /// The row as the source sent it (sorted keys), for the audit and for a fix.
    public let rawJSON: String

    public init(account: String, field: String, reason: String, rawJSON: String) {
        self.account = account
        self.field = field
        self.reason = reason
        self.rawJSON = rawJSON
    }
}

/// Collects the rows a window's pages refused, while the pages stream to the ingest.
public final class RefusedRowCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [RefusedRow] = []

    public init() {}

    func add(_ refused: [RefusedRow]) {
        guard !refused.isEmpty else { return }
        lock.withLock { rows += refused }
    }

    public var collected: [RefusedRow] { lock.withLock { rows } }
}
