import Crypto

/// The id Flowpay knows a booking by (`bs_` + 32 hex digits), derived from what stays true about the booking
/// instead of drawn at random, so that storing the same booking again — into a database restored from a backup,
/// or an empty one — gives it the id Flowpay already has.
///
/// `bs_` + hex(first 16 bytes of SHA-256(seed ‖ key ‖ reissue as 4-byte big-endian)), where
/// - seed = SHA-256(`"flowpay-id/1"` 0x00 the customer's Flowpay id (lower-case UUID) 0x00 the account's identity):
///   `iban:` + normalised IBAN + `/` + currency when the account has an IBAN (what every source and consent
///   agrees on), else `source:` + the source's account id;
/// - key = the row's stored key when it is first stored (`DedupKey`: the source-id key, else the content key);
/// - reissue = how many stored bookings of the account held this key before and moved to another (an adopted
///   source id, an edit) — 0 almost always. Such a booking keeps the id derived from its old key, so a new
///   booking arriving later under that key needs another id: one id is never two bookings'.
///
/// An id is fixed when its row is first stored and never recomputed (a row later adopting a new key or taking an
/// edit keeps it). Rows stored before migration 0009 keep `DedupKey.legacyFlowpayID`; rows stored by releases
/// 0009–0019 keep the random id they were given.
public struct FlowpayTransactionIDs: Sendable, Equatable {
    private let seed: [UInt8]

    public init(flowpayCustomerID: String, ibanKey: String?, currency: String?, sourceAccountID: String) {
        let account = ibanKey.map { "iban:\($0)/\(currency ?? "")" } ?? "source:\(sourceAccountID)"
        var hasher = SHA256()
        hasher.update(data: Array("flowpay-id/1".utf8))
        hasher.update(data: [0x00])
        hasher.update(data: Array(flowpayCustomerID.lowercased().utf8))
        hasher.update(data: [0x00])
        hasher.update(data: Array(account.utf8))
        seed = Array(hasher.finalize())
    }

    /// The id of the booking first stored under `key`; `reissue` > 0 when earlier bookings of the account held
    /// that key and moved on.
    public func id(forKey key: some Collection<UInt8>, reissue: Int32 = 0) -> String {
        var hasher = SHA256()
        hasher.update(data: seed)
        if key.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            hasher.update(data: Array(key))
        }
        withUnsafeBytes(of: UInt32(bitPattern: reissue).bigEndian) { hasher.update(bufferPointer: $0) }
        return "bs_" + DedupKey.hex(Array(hasher.finalize()).prefix(16))
    }
}
