import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// OAuth2 client-credentials token cache shared by every concurrent caller: one token request at a time,
/// the token reused until shortly before it expires, dropped when the API says it is no longer valid.
actor TokenProvider {
    private struct Token {
        let value: String
        let refreshAt: ContinuousClock.Instant
    }

    private let configuration: FlowpayConfiguration
    private let http: HTTPClient
    private let logger: Logger
    private var current: Token?
    private var pending: Task<Token, any Error>?

    init(configuration: FlowpayConfiguration, http: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
    }

    func token() async throws -> String {
        if let current, ContinuousClock.now < current.refreshAt { return current.value }
        if let pending { return try await pending.value.value }
        let task = Task { try await self.requestToken() }
        pending = task
        defer { pending = nil }
        let token = try await task.value
        current = token
        return token.value
    }

    /// Forgets `value` if it is still the cached token (a 401 from the API said it is dead).
    func invalidate(_ value: String) {
        if current?.value == value { current = nil }
    }

    private func requestToken() async throws -> Token {
        var request = HTTPClientRequest(url: configuration.tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let form = [("grant_type", "client_credentials"), ("client_id", configuration.clientID),
                    ("client_secret", configuration.clientSecret), ("audience", configuration.audience)]
            .map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: form))
        var attempt = 0
        let started = ContinuousClock.now
        while true {
            attempt += 1
            var problem: String
            do {
                let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeout.components.seconds))
                let body = try await response.body.collect(upTo: 1 << 20)
                let status = Int(response.status.code)
                if (200..<300).contains(status) {
                    struct Answer: Decodable { let access_token: String; let expires_in: Int? }
                    guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)) else {
                        throw FlowpayError.protocolError("token endpoint answered \(status) without an access_token")
                    }
                    let lifetime = max(answer.expires_in ?? 3600, 1)
                    // Refresh a little early: 10% of the lifetime, at most a minute.
                    let margin = min(Double(lifetime) * 0.1, 60)
                    logger.debug("fetched Flowpay access token", metadata: ["expires_in": "\(lifetime)"])
                    return Token(value: answer.access_token, refreshAt: .now + .milliseconds(Int64((Double(lifetime) - margin) * 1000)))
                }
                if status == 401 || status == 403 || status == 400 {
                    struct Denied: Decodable { let error: String?; let error_description: String? }
                    let denied = try? JSONDecoder().decode(Denied.self, from: Data(body.readableBytesView))
                    throw FlowpayError.unauthorized("token endpoint answered \(status) \(denied?.error_description ?? denied?.error ?? "")")
                }
                problem = "token endpoint answered \(status)"
                guard RetryPolicy.isRetryable(status: status) else { throw FlowpayError.protocolError(problem) }
                if try await pause(attempt: attempt, started: started, retryAfter: RetryPolicy.retryAfter(response.headers.first(name: "Retry-After"))) { continue }
            } catch let error as FlowpayError {
                throw error
            } catch {
                problem = "token request failed: \(error)"
                if try await pause(attempt: attempt, started: started, retryAfter: nil) { continue }
            }
            throw FlowpayError.retriesExhausted(attempts: attempt, last: problem)
        }
    }

    private func pause(attempt: Int, started: ContinuousClock.Instant, retryAfter: Duration?) async throws -> Bool {
        let policy = configuration.retry
        let delay = retryAfter ?? policy.backoff(afterAttempt: attempt)
        guard attempt < policy.maxAttempts, started.duration(to: .now) + delay <= policy.maxTotal else { return false }
        try await Task.sleep(for: delay)
        return true
    }
}

func formEncode(_ value: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
}
