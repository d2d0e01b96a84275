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

    @Test func verifiedTamperedStaleAndReplayedWebhooksAreAllAnswered200AndRecorded() async throws {
        try await PullAPIHarness.with { api in
            let customer = try api.store.connection.queryValue(UUID.self, "SELECT flowpay_customer_id FROM customers WHERE id = $1", [api.customerID])
            let verifier = WebhookVerifier(secret: PullAPIHarness.webhookSecret)
            let now = ISO8601DateFormatter().string(from: Date())
            let scoring = #"{"customerId":"\#(customer.uuidString.lowercased())","result":"OFFER"}"#
            let signature = verifier.signature(body: Array(scoring.utf8), timestamp: now)

            #expect(try await post(api, body: scoring, timestamp: now, signature: signature) == 200)
            #expect(try await post(api, body: scoring.replacingOccurrences(of: "OFFER", with: "UNQUALIFIED"), timestamp: now, signature: signature) == 200)
            let stale = "2023-06-30T12:05:28.521071Z"
            let vectorBody = #"{"id":"5653fdfe-8b71-4c2d-b070-d0fda1d10000","state":"NEW","effectiveAt":"2023-06-30T12:05:28.466076Z"}"#
            #expect(try await post(api, body: vectorBody, timestamp: stale,
                                   signature: WebhookVerifier(secret: "secret").signature(body: Array(vectorBody.utf8), timestamp: stale)) == 200)
            #expect(try await post(api, body: scoring, timestamp: now, signature: signature) == 200)   // replay
            try await waitForWebhooks(api, count: 4)

            let rows = try api.store.connection.query("SELECT verified, failure, outcome FROM webhooks ORDER BY id").map {
                (try $0.decode(Bool.self, at: 0), try $0.decode(String?.self, at: 1), try $0.decode(String?.self, at: 2))
            }
            #expect(rows.count == 4)
            #expect(rows[0].0 == true && rows[0].2 == "priority sync queued")
            #expect(rows[1].0 == false && rows[1].1 == "signature does not match")
            #expect(rows[2].0 == false && rows[2].1?.contains("outside the tolerance") == true)
            #expect(rows[3].0 == false && rows[3].1 == "replay")
            #expect(try api.store.connection.queryValue(Bool.self, "SELECT priority_sync_at IS NOT NULL FROM customers WHERE id = $1", [api.customerID]))
        }
    }
}
