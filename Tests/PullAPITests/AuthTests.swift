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
        // 2 a minute: a token comes back every 30 s, so even a slow machine cannot refill the bucket within the test.
        try await PullAPIHarness.with(requestsPerMinute: 2) { api in
            let path = "/flowpay/v1/bank-accounts?merchantId=merchant-1"
            for _ in 0..<2 { #expect(try await api.get(path).status == 200) }
            let limited = try await api.get(path)
            #expect(limited.status == 429)
            #expect(Int(limited.headers.first { $0.0.lowercased() == "retry-after" }?.1 ?? "") ?? 0 >= 1)
        }
    }

    /// A key scoped to some merchants reads those; every other merchant is the same 404, whether it exists or
    /// not, so a scoped key cannot tell which merchant ids exist. Unscoped keys still read everyone.
    @Test func aScopedKeySeesOnlyItsMerchants() async throws {
        try await PullAPIHarness.with { api in
            _ = try api.store.addCustomer(flowpayCustomerID: UUID(), merchantID: "merchant-2", source: .gocardless, sourceRef: "r2")
            let (_, scoped) = try api.store.createAPIKey(label: "agency", merchants: ["merchant-1"])
            for feed in ["bank-accounts", "bank-transactions"] {
                #expect(try await api.get("/flowpay/v1/\(feed)?merchantId=merchant-1", key: scoped).status == 200)
                let existing = try await api.get("/flowpay/v1/\(feed)?merchantId=merchant-2", key: scoped)
                let unknown = try await api.get("/flowpay/v1/\(feed)?merchantId=merchant-none", key: scoped)
                #expect(existing.status == 404 && unknown.status == 404)
                #expect(existing.json["_embedded"] as? NSDictionary == unknown.json["_embedded"] as? NSDictionary, "the same answer")
                #expect(try await api.get("/flowpay/v1/\(feed)?merchantId=merchant-2").status == 200, "an unscoped key reads everyone")
            }
            #expect(try api.store.apiKeys().first { $0.label == "agency" }?.merchants == ["merchant-1"])
        }
    }

    /// A flood from one address is cut off before any key is looked up: invalid keys get 401 until the address
    /// is over its rate, then 429 with Retry-After. A valid key from that address is not counted there at all,
    /// only against its own limit: the poller keeps its answers. Health probes are exempt.
    @Test func oneAddressOverItsRateGets429BeforeAuthenticationButAValidKeyDoesNot() async throws {
        // One request a minute: timing-proof on a loaded machine (the second comes well within the minute).
        try await PullAPIHarness.with(requestsPerMinutePerAddress: 1) { api in
            let path = "/flowpay/v1/bank-accounts?merchantId=merchant-1"
            #expect(try await api.get(path, key: "bsk_wrong").status == 401)
            let limited = try await api.get(path, key: "bsk_wrong_again")
            #expect(limited.status == 429)
            #expect(Int(limited.headers.first { $0.0.lowercased() == "retry-after" }?.1 ?? "") ?? 0 >= 1)
            #expect(try await api.getWithoutKey(path).status == 429)
            for _ in 0..<5 { #expect(try await api.get(path).status == 200, "a valid key counts only against its own limit") }
            #expect(try await api.getWithoutKey("/healthz").status == 200)
        }
    }
}
