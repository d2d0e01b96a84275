import Crypto
import Foundation

/// Checks Flowpay's webhook signature: `x-flowpay-sig` = hex HMAC-SHA256 with the webhook secret over the raw
/// body bytes followed by the `x-flowpay-ts` string; timestamps outside the tolerance are refused.
public struct WebhookVerifier: Sendable {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case missingHeaders
        case badTimestamp(String)
        case staleTimestamp(String)
        case badSignature

        public var description: String {
            switch self {
            case .missingHeaders: "missing x-flowpay-sig or x-flowpay-ts"
            case .badTimestamp(let ts): "x-flowpay-ts is not an ISO-8601 instant: \(ts)"
            case .staleTimestamp(let ts): "x-flowpay-ts \(ts) is outside the tolerance"
            case .badSignature: "signature does not match"
            }
        }
    }

    let key: SymmetricKey
    public let tolerance: TimeInterval

    public init(secret: String, tolerance: TimeInterval = 300) {
        key = SymmetricKey(data: Data(secret.utf8))
        self.tolerance = tolerance
    }

    public func signature(body: [UInt8], timestamp: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body + Array(timestamp.utf8), using: key)
        return mac.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    /// Verifies in constant time; `now` is injectable for the contract's (old) test vector.
    public func verify(body: [UInt8], timestamp: String?, signature: String?, now: Date = Date()) throws(Failure) {
        guard let timestamp, let signature else { throw .missingHeaders }
        guard let instant = Self.parseInstant(timestamp) else { throw .badTimestamp(timestamp) }
        guard abs(now.timeIntervalSince(instant)) <= tolerance else { throw .staleTimestamp(timestamp) }
        // Exactly 64 lower-case hex digits, as Flowpay sends them: one spelling per signature, so a replay
        // cannot pass as a new webhook by changing the case of its signature (the replay key is the signature).
        guard signature.utf8.count == 64, let given = Self.hexBytes(signature) else { throw .badSignature }
        let expected = Array(HMAC<SHA256>.authenticationCode(for: body + Array(timestamp.utf8), using: key))
        guard given.count == expected.count else { throw .badSignature }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        guard difference == 0 else { throw .badSignature }
    }

    public static func parseInstant(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// Lower-case hex only.
    static func hexBytes(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0, utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        var bytes = [UInt8]()
        var index = 0
        while index < utf8.count {
            guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
            index += 2
        }
        return bytes
    }
}
