import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small HTTP layer for connectors: timeouts, bounded retries of connection errors and 5xx (a 503
/// `ServiceError` from a bank that is briefly down included), and the response handed back whole (status,
/// headers, body up to a limit) for the connector to interpret.
///
/// The retry is Flowpay's `RetryPolicy` in small (exponential backoff with full jitter, `Retry-After` obeyed up
/// to a bound), kept here because connectors do not depend on the Flowpay module.
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
    /// Backoff after the first failed attempt (doubling after each, full jitter), and the longest wait, whatever a
    /// `Retry-After` asks: a bank that wants longer is tried again on the next run.
    var baseDelay: Duration = .milliseconds(250)
    var maxDelay: Duration = .seconds(5)
    /// Largest accepted body: a 730-day GoCardless history is a few MB.
    var maxBody = 64 << 20

    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: [UInt8]? = nil) async throws(SourceError) -> Response {
        try await exchange(method, url, headers: headers, body: body, streams: false) { _ throws(SourceError) in }
    }

    /// Like `send`, but a 2xx body goes to `consume` buffer by buffer as it arrives instead of being kept (the
    /// response's `body` is then empty); any other answer comes back whole, for the connector to classify. A
    /// 2xx whose body breaks off is not retried (`consume` has seen part of it): `.unavailable`.
    func stream(_ method: HTTPMethod, _ url: String, headers: [(String, String)],
                into consume: (ByteBuffer) throws(SourceError) -> Void) async throws(SourceError) -> Response {
        try await exchange(method, url, headers: headers, body: nil, streams: true, into: consume)
    }

    private func exchange(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: [UInt8]?, streams: Bool,
                          into consume: (ByteBuffer) throws(SourceError) -> Void) async throws(SourceError) -> Response {
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
                if streams, (200..<300).contains(Int(response.status.code)) {
                    try await Self.deliver(response.body, to: consume, url: url)
                    return Response(status: Int(response.status.code), headers: response.headers, body: [])
                }
                let bytes = Array((try await response.body.collect(upTo: maxBody)).readableBytesView)
                let status = Int(response.status.code)
                if (300..<400).contains(status) {
                    // The clients never follow redirects (`SourceHTTPClient`): a source that sends one elsewhere is
                    // answering wrongly. Only the target's host is named (its path or query may carry anything).
                    let target = response.headers.first(name: "Location").flatMap { URL(string: $0) }.map { $0.host ?? "?" }
                    throw SourceError.unavailable("\(url) answered HTTP \(status), a redirect\(target.map { " to host \($0)" } ?? ""); redirects are not followed")
                }
                if status >= 500, attempt < attempts {
                    lastProblem = "HTTP \(status)"
                    try? await Task.sleep(for: delay(afterAttempt: attempt, retryAfter: response.headers.first(name: "Retry-After")))
                    continue
                }
                return Response(status: status, headers: response.headers, body: bytes)
            } catch let error as SourceError {
                throw error
            } catch {
                lastProblem = "\(error)"
                if attempt < attempts { try? await Task.sleep(for: delay(afterAttempt: attempt, retryAfter: nil)) }
            }
        }
        throw .unavailable("\(url): \(lastProblem)")
    }

    /// The wait before the next attempt: `Retry-After` (delta-seconds) when the server gives one, else exponential
    /// backoff with full jitter; never more than `maxDelay`.
    func delay(afterAttempt attempt: Int, retryAfter: String?) -> Duration {
        if let seconds = retryAfter.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), seconds >= 0 {
            return min(.seconds(seconds), maxDelay)
        }
        let ceiling = min(baseDelay * (1 << min(max(attempt - 1, 0), 16)), maxDelay)
        let milliseconds = ceiling.components.seconds * 1_000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(milliseconds, 0)))
    }

    private static func deliver(_ body: HTTPClientResponse.Body, to consume: (ByteBuffer) throws(SourceError) -> Void,
                                url: String) async throws(SourceError) {
        do {
            for try await buffer in body { try consume(buffer) }
        } catch let error as SourceError {
            throw error
        } catch {
            throw .unavailable("\(url): the answer broke off: \(error)")
        }
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
