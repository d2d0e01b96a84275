import Crypto
import Foundation
import Postgres

public struct APIKeyRecord: Sendable, Equatable {
    public let id: Int64
    public let label: String
    public let createdAt: Date
    public let revokedAt: Date?
    /// The merchants the key may read; nil: every merchant.
    public let merchants: [String]?
}

/// An authenticated PULL key: its id (the rate limit's unit) and its scope.
public struct APIKeyGrant: Sendable, Equatable {
    public let id: Int64
    /// The merchants the key may read; nil: every merchant.
    public let merchants: Set<String>?
    /// The customer of the merchant the request names (read with the key, in the same round trip), nil when
    /// none was named or no such merchant exists. Whether the key may read it is `allows(merchant:)`.
    public var namedCustomerID: Int64?

    public func allows(merchant: String) -> Bool { merchants?.contains(merchant) ?? true }
}

extension Store {
    /// Creates a key and returns it in clear exactly once; only its SHA-256 is stored.
    public func createAPIKey(label: String, merchants: [String]? = nil) throws -> (id: Int64, key: String) {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let key = "bsk_" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let scope = try merchants.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        let id = try connection.queryValue(Int64.self, "INSERT INTO api_keys (hash, label, merchants) VALUES ($1, $2, $3::jsonb) RETURNING id",
                                           [Self.apiKeyHash(key), label, scope])
        return (id, key)
    }

    public func apiKeys() throws -> [APIKeyRecord] {
        try connection.query("SELECT id, label, created_at, revoked_at, merchants::text FROM api_keys ORDER BY id").map {
            APIKeyRecord(id: try $0.decode(at: 0), label: try $0.decode(at: 1), createdAt: try $0.decode(at: 2), revokedAt: try $0.decode(at: 3),
                         merchants: Self.merchants(try $0.decode(String?.self, at: 4)))
        }
    }

    public func revokeAPIKey(id: Int64) throws -> Bool {
        try connection.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", [id]) == 1
    }

    /// The id of the active key `presented` is, or nil. The lookup is by hash; the stored hash is then
    /// compared with the presented one in constant time.
    /// With `merchantID`, the merchant's customer is read in the same round trip (`namedCustomerID`).
    public func authenticate(apiKey presented: String, merchantID: String? = nil) throws -> APIKeyGrant? {
        let hash = Self.apiKeyHash(presented)
        guard let row = try connection.query("""
            SELECT id, hash, merchants::text, (SELECT c.id FROM customers c WHERE c.merchant_id = $2)
            FROM api_keys WHERE hash = $1 AND revoked_at IS NULL
            """, [hash, merchantID]).first else {
            return nil
        }
        let stored = try row.decode([UInt8].self, at: 1)
        guard stored.count == hash.count else { return nil }
        var difference: UInt8 = 0
        for (a, b) in zip(stored, hash) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        return APIKeyGrant(id: try row.decode(Int64.self, at: 0), merchants: Self.merchants(try row.decode(String?.self, at: 2)).map(Set.init),
                           namedCustomerID: try row.decode(Int64?.self, at: 3))
    }

    /// A stored scope: a JSON array of merchant ids (nil: unscoped; unreadable: no merchant at all).
    static func merchants(_ json: String?) -> [String]? {
        guard let json else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String] ?? []
    }

    /// The SHA-256 of a key, as stored (never the key itself).
    public static func apiKeyHash(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Data(key.utf8))) }

    /// The hashes of every key that is not revoked: `serve` tells a valid key from an anonymous request without a
    /// lookup per request (the lookup that grants access still happens per request).
    public func activeAPIKeyHashes() throws -> Set<[UInt8]> {
        Set(try connection.query("SELECT hash FROM api_keys WHERE revoked_at IS NULL").map { try $0.decode([UInt8].self, at: 0) })
    }
}
