import Foundation
import Testing
import TestSupport

@Suite struct AuthTests {
    @Test func missingWrongAndRevokedKeysAreRefused() async throws {
        try await PullAPIHarness.with { api in
            let path = "/flowpay/v1/bank-accounts?merchantId=merchant-1"
            #expect(try await api.get(path).status == 200)
            #expect(try await api.getWithoutKey(path).status == 401)
            #expect(try await api.get(path, key: "bsk_" + String(repeating: "0", count: 64)).status == 401)
            #expect(try await api.get(path, key: String(api.key.dropLast())).status == 401)
            #expect(try api.store.revokeAPIKey(id: api.keyID))
            let revoked = try await api.get(path)
            #expect(revoked.status == 401)
            #expect(revoked.json["logref"] != nil)
            // Only the hash is stored.
            let stored = try api.store.connection.queryValue([UInt8].self, "SELECT hash FROM api_keys WHERE id = $1", [api.keyID])
            #expect(stored.count == 32 && !String(decoding: stored, as: UTF8.self).contains(api.key))
        }
    }

    @Test func aKeyOverItsRateGets429WithRetryAfter() async throws {
        try await PullAPIHarness.with(requestsPerMinute: 3) { api in
            let path = "/flowpay/v1/bank-accounts?merchantId=merchant-1"
            for _ in 0..<3 { #expect(try await api.get(path).status == 200) }
            let limited = try await api.get(path)
            #expect(limited.status == 429)
            #expect(Int(limited.headers.first { $0.0.lowercased() == "retry-after" }?.1 ?? "") ?? 0 >= 1)
        }
    }
}
