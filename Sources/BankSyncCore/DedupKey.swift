import Crypto

/// How a transaction is recognised when a source reports it again.
///
/// Two strategies, chosen per transaction:
/// - **Source id** — when the connector declares its source's transaction ids stable and the transaction has
///   one: `SHA-256("id2" 0x00 status 0x00 sourceID 0x00 booking date 0x00 amount in minor units 0x00 currency)`.
///   Final as it is. The date and amount are part of it because some sources reuse an id for a different
///   booking: that is then a second transaction, not a duplicate. (Before migration 0009 the key was
///   `SHA-256("id" 0x00 status 0x00 sourceID)`; the migration moves every customer to a new key generation,
///   so stored rows are recognised by their content key and take the new key, see `Store.ingest`.)
/// - **Fingerprint** — otherwise: `SHA-256("fp" 0x00 f₁ 0x1F f₂ 0x1F …)` over exactly these normalised fields,
///   in this order, an absent field written as the empty string:
///   1. status (`booked` / `pending`)
///   2. booking date (`YYYY-MM-DD`)
///   3. value date
///   4. amount in minor units (signed decimal integer)
///   5. currency code
///   6. counterparty IBAN (upper-case, no spaces)
///   7. counterparty name (NFC, whitespace collapsed)
///   8. remittance text (NFC, whitespace collapsed)
///   9. bank transaction code
///
///   Identical fingerprints on one account are real: two identical coffees on one day. Each gets an
///   **occurrence ordinal** (1, 2, …) among the identical fingerprints of the fetched window, and the stored
///   key is `SHA-256(fingerprint ‖ ordinal as 4-byte big-endian)` (`withOrdinal`; `WindowKeys` counts the
///   ordinals in arrival order). It equals SQL's `sha256(fingerprint || int4send(ordinal))`, which computed
///   the keys stored before migration 0007, so those keys stay valid. Windows are whole booking days, so a
///   day's identical transactions are always counted together and ordinals are stable across runs.
public enum DedupKey {
    /// Every stored key is a SHA-256 digest.
    public static let byteCount = 32

    public struct Base: Sendable, Equatable {
        /// 32 bytes: the final key (source id) or the fingerprint still to be combined with its ordinal.
        public let bytes: [UInt8]
        public let needsOrdinal: Bool
    }

    public static func base(for transaction: BankTransaction, sourceIDsAreStable: Bool) -> Base {
        if sourceIDsAreStable, let id = transaction.sourceID {
            return Base(bytes: sha256(["id2", transaction.status.rawValue, id, transaction.bookingDate?.description ?? "",
                                       String(transaction.amount.minorUnits), transaction.amount.currency.code], separator: 0x00),
                        needsOrdinal: false)
        }
        return Base(bytes: fingerprint(transaction), needsOrdinal: true)
    }

    public static func fingerprint(_ transaction: BankTransaction) -> [UInt8] {
        // The documented byte string, built in one buffer (this runs once per fetched transaction).
        var message: [UInt8] = [UInt8(ascii: "f"), UInt8(ascii: "p"), 0x00]
        message.reserveCapacity(192)
        func field(_ text: String?, last: Bool = false) {
            if let text { message.append(contentsOf: text.utf8) }
            if !last { message.append(0x1F) }
        }
        field(transaction.status.rawValue)
        field(transaction.bookingDate?.description)
        field(transaction.valueDate?.description)
        field(String(transaction.amount.minorUnits))
        field(transaction.amount.currency.code)
        field(transaction.counterpartyIBAN)
        field(transaction.counterpartyName)
        field(transaction.remittance)
        field(transaction.bankTransactionCode, last: true)
        return Array(SHA256.hash(data: message))
    }

    /// The stored key of the `ordinal`-th (1-based) transaction with this fingerprint.
    public static func withOrdinal(_ fingerprint: [UInt8], ordinal: Int32) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: fingerprint)
        withUnsafeBytes(of: UInt32(bitPattern: ordinal).bigEndian) { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    /// The id Flowpay sees for rows stored before migration 0009: `bs_` + the key's first 16 bytes, in hex
    /// (unique per account only). Rows stored by migrations 0009–0019's releases got a random `bs_` + 32 hex id,
    /// rows stored since a derived one (`FlowpayTransactionIDs`); every id is kept with its row and never recomputed.
    public static func legacyFlowpayID(_ key: [UInt8]) -> String {
        "bs_" + hex(key.prefix(16))
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = hexDigits[Int(byte >> 4)]
                buffer[index + 1] = hexDigits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func sha256(_ parts: [String], separator: UInt8) -> [UInt8] {
        var hasher = SHA256()
        for (index, part) in parts.enumerated() {
            if index > 0 { hasher.update(data: [separator]) }
            hasher.update(data: Array(part.utf8))
        }
        return Array(hasher.finalize())
    }
}
