import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small HTTP layer for connectors: timeouts, bounded retries of connection errors and 5xx, and the
/// response handed back whole (status, headers, body up to a limit) for the connector to interpret.
struct SourceHTTP: Sendable {
    struct Response: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]

        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    let client: HTTPClient
    var requestTimeout: TimeAmount = .seconds(60)
    var attempts = 3
    /// Largest accepted body: a 730-day GoCardless history is a few MB.
    var maxBody = 64 << 20

    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: [UInt8]? = nil) async throws(SourceError) -> Response {
        var lastProblem = ""
        for attempt in 1...attempts {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.headers.add(name: "Accept", value: "application/json")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            do {
                let response = try await client.execute(request, timeout: requestTimeout)
                let bytes = Array((try await response.body.collect(upTo: maxBody)).readableBytesView)
                let status = Int(response.status.code)
                if status >= 500, status != 503, attempt < attempts {
                    lastProblem = "HTTP \(status)"
                    try? await Task.sleep(for: .milliseconds(200 * attempt))
                    continue
                }
                return Response(status: status, headers: response.headers, body: bytes)
            } catch {
                lastProblem = "\(error)"
                if attempt < attempts { try? await Task.sleep(for: .milliseconds(200 * attempt)) }
            }
        }
        throw .unavailable("\(url): \(lastProblem)")
    }
}

/// JSON helpers that turn shape problems into `SourceError.malformed` naming the field.
enum JSONShape {
    static func object(_ bytes: [UInt8], account: String?, what: String) throws(SourceError) -> [String: Any] {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw .malformed(account: account, field: what, detail: "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw .malformed(account: account, field: what, detail: "expected a JSON object")
        }
        return object
    }

    static func string(_ value: Any?) -> String? {
        switch value {
        case let text as String: text.isEmpty ? nil : text
        default: nil
        }
    }
}
