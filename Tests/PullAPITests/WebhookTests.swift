import AsyncHTTPClient
import Flowpay
import Foundation
import NIOCore
import Testing
import TestSupport

@Suite struct WebhookTests {
    func post(_ api: PullAPIHarness, body: String, timestamp: String, signature: String) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(api.port)/webhooks/flowpay")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "x-flowpay-ts", value: timestamp)
        request.headers.add(name: "x-flowpay-sig", value: signature)
        request.body = .bytes(ByteBuffer(string: body))
        return try await api.send(request).status
    }

    func waitForWebhooks(_ api: PullAPIHarness, count: Int) async throws {
        for _ in 0..<200 {
            if try api.store.connection.queryValue(Int.self, "SELECT count(*) FROM webhooks") >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Every webhook is answered 200; only Flowpay's are kept. Tampered, stale, unsigned, oversized and
    /// replayed ones (also a replay with its signature in upper case) are dropped before anything is queued or
    /// stored; the verified one is recorded once and queues its customer's priority sync.
    @Test func onlyVerifiedWebhooksAreQueuedAndRecordedOnce() async throws {
        try await PullAPIHarness.with { api in
            let customer = try api.store.connection.queryValue(UUID.self, "SELECT flowpay_customer_id FROM customers WHERE id = $1", [api.customerID])
            let verifier = WebhookVerifier(secret: PullAPIHarness.webhookSecret)
            let now = ISO8601DateFormatter().string(from: Date())
            let scoring = #"{"customerId":"\#(customer.uuidString.lowercased())","result":"OFFER"}"#
            let signature = verifier.signature(body: Array(scoring.utf8), timestamp: now)

            #expect(try await post(api, body: scoring, timestamp: now, signature: signature) == 200)
            try await waitForWebhooks(api, count: 1)
            #expect(try await post(api, body: scoring.replacingOccurrences(of: "OFFER", with: "UNQUALIFIED"), timestamp: now, signature: signature) == 200)
            let stale = "2023-06-30T12:05:28.521071Z"
            let vectorBody = #"{"id":"5653fdfe-8b71-4c2d-b070-d0fda1d10000","state":"NEW","effectiveAt":"2023-06-30T12:05:28.466076Z"}"#
            #expect(try await post(api, body: vectorBody, timestamp: stale,
                                   signature: WebhookVerifier(secret: "secret").signature(body: Array(vectorBody.utf8), timestamp: stale)) == 200)
            #expect(try await post(api, body: scoring, timestamp: now, signature: signature) == 200)   // replay
            #expect(try await post(api, body: scoring, timestamp: now, signature: signature.uppercased()) == 200)   // replay, upper case
            #expect(try await post(api, body: scoring, timestamp: now, signature: "") == 200)   // unsigned
            let oversized = String(repeating: " ", count: 20_000) + scoring
            #expect(try await post(api, body: oversized, timestamp: now, signature: verifier.signature(body: Array(oversized.utf8), timestamp: now)) == 200)
            try await Task.sleep(for: .milliseconds(300))

            let rows = try api.store.connection.query("SELECT verified, outcome FROM webhooks ORDER BY id").map {
                (try $0.decode(Bool.self, at: 0), try $0.decode(String?.self, at: 1))
            }
            #expect(rows.count == 1, "only the verified webhook is stored: \(rows)")
            #expect(rows.first?.0 == true && rows.first?.1 == "priority sync queued")
            #expect(try api.store.connection.queryValue(Bool.self, "SELECT priority_sync_at IS NOT NULL FROM customers WHERE id = $1", [api.customerID]))
        }
    }
}
