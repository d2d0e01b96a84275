import Crypto
import Foundation

/// Seals and opens source secrets (a Fio token) with AES-256-GCM under the key from `BANKSYNC_SECRETS_KEY`, so the
/// database never holds a token in clear. The sealed form is CryptoKit's combined one (12-byte nonce, ciphertext,
/// 16-byte tag) with a random nonce per seal. Errors never carry the secret or the key.
public struct TokenVault: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The key is not base64 of exactly 32 bytes.
        case badKey(String)
        /// A sealed secret this key cannot open: another key sealed it, or it was damaged.
        case cannotOpen

        public var description: String {
            switch self {
            case .badKey(let problem): problem
            case .cannotOpen: "a stored secret cannot be opened with this key (another key sealed it, or it is damaged)"
            }
        }
    }

    private let key: SymmetricKey

    /// `base64`: the key as configured (base64 of 32 random bytes: `openssl rand -base64 32`).
    public init(base64 text: String) throws(Failure) {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .badKey("is not base64 (make one with: openssl rand -base64 32)")
        }
        guard bytes.count == 32 else { throw .badKey("must be 32 bytes once base64-decoded, not \(bytes.count)") }
        key = SymmetricKey(data: bytes)
    }

    public func seal(_ secret: String) throws(Failure) -> [UInt8] {
        do {
            guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else { throw Failure.cannotOpen }
            return Array(combined)
        } catch {
            throw .cannotOpen
        }
    }

    public func open(_ sealed: [UInt8]) throws(Failure) -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: Data(sealed))
            return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
        } catch {
            throw .cannotOpen
        }
    }

    /// A stable, non-reversible name for a token (rate-limit slots, `customers list`): never the token itself.
    public static func fingerprint(ofToken token: String) -> String {
        "fio:" + SHA256.hash(data: Data(token.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
