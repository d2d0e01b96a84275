import AsyncHTTPClient
import Flowpay
import Foundation
import NIOCore
import Testing
import TestSupport

extension WebhookTests {
    /// The per-address limit refuses the address's other requests, never a webhook: Flowpay's contract says a
    /// webhook always gets 200, and Flowpay's own one, arriving behind the same address, is still recorded.
    @Test func webhooksGet200AndAreProcessedWhenTheAddressIsOverItsLimit() async throws {
        try await PullAPIHarness.with(requestsPerMinutePerAddress: 2) { api in
            var refused = false
            for _ in 0..<3 where !refused {
                refused = try await api.getWithoutKey("/flowpay/v1/bank-accounts?merchantId=merchant-1").status == 429
            }
            #expect(refused, "the address is over its limit")
            let customer = try api.store.connection.queryValue(UUID.self, "SELECT flowpay_customer_id FROM customers WHERE id = $1", [api.customerID])
            let now = ISO8601DateFormatter().string(from: Date())
            let scoring = #"{"customerId":"\#(customer.uuidString.lowercased())","result":"OFFER"}"#
            let signature = WebhookVerifier(secret: PullAPIHarness.webhookSecret).signature(body: Array(scoring.utf8), timestamp: now)
            #expect(try await post(api, body: scoring, timestamp: now, signature: "forged") == 200)
            #expect(try await post(api, body: scoring, timestamp: now, signature: signature) == 200)
            try await waitForWebhooks(api, count: 1)
            #expect(try api.store.connection.queryValue(Int.self, "SELECT count(*) FROM webhooks WHERE verified") == 1)
            #expect(try await api.getWithoutKey("/flowpay/v1/bank-accounts?merchantId=merchant-1").status == 429, "the rest is still limited")
        }
    }
}
