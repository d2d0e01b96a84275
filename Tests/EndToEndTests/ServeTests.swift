import NIOCore
import AsyncHTTPClient
import Flowpay
import Foundation
import Testing
import TestSupport

/// `banksync serve` as a real process: SIGTERM lets a request that is in flight finish, then it exits 0.
@Suite struct ServeTests {
    @Test func sigtermFinishesTheInFlightRequestThenExits() async throws {
        try await EndToEnd.with { e2e in
            let port = FreePort.pick(pair: true)   // serve listens on port and port + 1 (metrics)
            var environment = e2e.environment
            environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
            environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
            environment["FLOWPAY_WEBHOOK_SECRET"] = "whsec"
            let (process, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
            var socket: Int32 = -1
            for _ in 0..<100 {
                socket = try connectLoopback(port)
                if socket >= 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(socket >= 0, "serve is listening")
            let body = #"{"customerId":"00000000-0000-0000-0000-000000000000","result":"OFFER"}"#
            let sentAt = ISO8601DateFormatter().string(from: Date())
            let signature = WebhookVerifier(secret: "whsec").signature(body: Array(body.utf8), timestamp: sentAt)
            let head = "POST /webhooks/flowpay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "x-flowpay-ts: \(sentAt)\r\nx-flowpay-sig: \(signature)\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            send(socket, head + String(body.prefix(10)))
            try await Task.sleep(for: .milliseconds(300))
            kill(process.processIdentifier, SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            send(socket, String(body.dropFirst(10)))
            let answer = receive(socket)
            close(socket)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "the in-flight request was answered: \(answer.prefix(60))")
            let outcome = await BankSyncProcess.finish(process, out, err)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            // The webhook accepted during shutdown was still processed and recorded.
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM webhooks") == 1)
        }
    }

    /// A financing webhook names only the financing: serve looks its customer up at Flowpay
    /// (`GET /partner-api/v1/financings/{id}`) and queues that customer's priority sync; a forged one is dropped
    /// unstored.
    @Test func aFinancingWebhookLooksItsCustomerUpAtFlowpay() async throws {
        try await EndToEnd.with { e2e in
            let (customer, _) = try await e2e.addGoCardlessCustomer(requisition: "fin-req", merchant: "fin")
            let financing = UUID()
            await e2e.flowpay.addFinancing(financing, customer: customer)
            try await ServeHarness.with(e2e, extraEnvironment: ["FLOWPAY_WEBHOOK_SECRET": "whsec"]) { serve in
                let body = #"{"id":"\#(financing.uuidString.lowercased())","state":"NEW","effectiveAt":"2026-11-25T10:00:00Z"}"#
                let sentAt = ISO8601DateFormatter().string(from: Date())
                let verifier = WebhookVerifier(secret: "whsec")
                for (signature, bodyText) in [(verifier.signature(body: Array(body.utf8), timestamp: sentAt), body),
                                              (String(repeating: "0", count: 64), body)] {
                    var request = HTTPClientRequest(url: "\(serve.baseURL)/webhooks/flowpay")
                    request.method = .POST
                    request.headers.add(name: "x-flowpay-ts", value: sentAt)
                    request.headers.add(name: "x-flowpay-sig", value: signature)
                    request.body = .bytes(ByteBuffer(string: bodyText))
                    #expect(try await serve.http.execute(request, timeout: .seconds(10)).status.code == 200)
                }
                let connection = try e2e.connect()
                defer { connection.close() }
                var outcome: String?
                for _ in 0..<1200 where outcome == nil {
                    try await Task.sleep(for: .milliseconds(50))
                    outcome = try connection.query("SELECT outcome FROM webhooks").first?.decode(String?.self, at: 0)
                }
                #expect(outcome == "priority sync queued")
                #expect(try connection.queryValue(Bool.self, "SELECT priority_sync_at IS NOT NULL FROM customers WHERE flowpay_customer_id = $1",
                                                  [customer]), "the financing's customer is synced first")
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM webhooks") == 1, "the forged one was not stored")
                #expect(try await serve.get("\(serve.baseURL)/metrics").status == 404, "not on the public listener")
                let metrics = try await serve.get(serve.metricsURL)
                #expect(metrics.body.contains(#"banksync_webhooks_dropped{reason="bad_signature"} 1"#), "\(metrics.body.prefix(400))")
            }
        }
    }

    /// An abuse check: a burst of 2,000 oversized and forged webhooks against a live serve leaves its memory
    /// under 100 MB, stores nothing, and the PULL feed keeps answering.
    @Test func aBurstOfOversizedAndForgedWebhooksChangesNothing() async throws {
        try await EndToEnd.with { e2e in
            _ = try await e2e.addGoCardlessCustomer(requisition: "abuse-req", merchant: "abuse")
            #expect(try await e2e.run(["sync", "--no-push"]).status == 0)
            let key = try await e2e.run(["api-key", "create", "--label", "abuse"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await ServeHarness.with(e2e, extraEnvironment: ["FLOWPAY_WEBHOOK_SECRET": "whsec", "BANKSYNC_CLIENT_RATE_PER_MINUTE": "1000000",
                                                                "BANKSYNC_PRIORITY_SYNC_POLL": "0"]) { serve in
                let oversized = String(repeating: "x", count: 24 << 10)
                let forged = #"{"customerId":"00000000-0000-0000-0000-000000000000","result":"OFFER"}"#
                let url = "\(serve.baseURL)/webhooks/flowpay"
                let answered = try await withThrowingTaskGroup(of: Int.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var ok = 0
                            for index in 0..<250 {
                                var request = HTTPClientRequest(url: url)
                                request.method = .POST
                                request.headers.add(name: "x-flowpay-ts", value: ISO8601DateFormatter().string(from: Date()))
                                request.headers.add(name: "x-flowpay-sig", value: String(repeating: "a", count: 64))
                                request.body = .bytes(ByteBuffer(string: (worker + index) % 2 == 0 ? oversized : forged))
                                if let response = try? await serve.http.execute(request, timeout: .seconds(5)) {
                                    _ = try? await response.body.collect(upTo: 1 << 16)
                                    if response.status == .ok { ok += 1 }
                                }
                            }
                            return ok
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(answered >= 1_000, "serve answered the burst (\(answered) of 2,000 with 200)")
                var feed = HTTPClientRequest(url: "\(serve.baseURL)/flowpay/v1/bank-transactions?merchantId=abuse&size=10")
                feed.headers.add(name: "X-API-Key", value: key)
                #expect(try await serve.http.execute(feed, timeout: .seconds(20)).status == .ok, "the PULL feed still answers")
                let peak = try #require(serve.peakRSSMegabytes())
                #expect(peak < 100, "serve's peak RSS was \(peak) MB")
                let connection = try e2e.connect()
                defer { connection.close() }
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM webhooks") == 0, "nothing stored")
            }
        }
    }

    func connectLoopback(_ port: Int) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 { Glibc.close(fd); return -1 }
        return fd
    }

    func send(_ fd: Int32, _ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, text.utf8.count, 0) }
    }

    func receive(_ fd: Int32) -> String {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }
}
