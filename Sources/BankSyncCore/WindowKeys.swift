import Crypto

/// Keys the transactions of one fetched window in the order the source returned them (`DedupKey` documents
/// the key): the n-th transaction with a given fingerprint gets ordinal n, and a stable source id the
/// source repeats within the window is recognised as the same transaction.
///
/// Memory grows with the window, not with what is stored: one 32-byte digest and a counter per distinct
/// fingerprint, one digest per stable id — about 180 bytes a transaction at peak, hash-table growth
/// included (measured: 200,000 transactions in one window, 65 MB peak RSS for the whole process).
public struct WindowKeys: Sendable {
    private let sourceIDsAreStable: Bool
    private var occurrences: [Digest32: Int32] = [:]
    private var stableIDsSeen: Set<Digest32> = []

    public init(sourceIDsAreStable: Bool) {
        self.sourceIDsAreStable = sourceIDsAreStable
    }

    /// The transaction's stored key, or nil when it repeats a stable id already keyed in this window.
    public mutating func key(for transaction: BankTransaction) -> [UInt8]? {
        let base = DedupKey.base(for: transaction, sourceIDsAreStable: sourceIDsAreStable)
        let digest = Digest32(base.bytes)
        guard base.needsOrdinal else {
            return stableIDsSeen.insert(digest).inserted ? base.bytes : nil
        }
        let ordinal = (occurrences[digest] ?? 0) + 1
        occurrences[digest] = ordinal
        return DedupKey.withOrdinal(base.bytes, ordinal: ordinal)
    }
}

/// A SHA-256 digest as four words: a compact, allocation-free dictionary key.
struct Digest32: Hashable, Sendable {
    let words: (UInt64, UInt64, UInt64, UInt64)

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == DedupKey.byteCount, "a dedup digest is 32 bytes")
        words = bytes.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }

    static func == (lhs: Digest32, rhs: Digest32) -> Bool { lhs.words == rhs.words }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
