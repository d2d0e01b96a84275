import AsyncHTTPClient
import BankSyncCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Flowpay's partner API: the three PUSH calls, authenticated with a cached OAuth2 token, retried with
/// backoff where a retry can help, every failure typed with Flowpay's `logref`.
///
/// This client never logs secrets, tokens or bank data: only paths, statuses, keys and logrefs.
public struct FlowpayClient: Sendable {
    let configuration: FlowpayConfiguration
    let http: HTTPClient
    let tokens: TokenProvider
    let logger: Logger

    public init(configuration: FlowpayConfiguration, http: HTTPClient, logger: Logger = Logger(label: "banksync.flowpay")) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
        tokens = TokenProvider(configuration: configuration, http: http, logger: logger)
    }

    /// A client with its own HTTP connection pool and the configured connect timeout; shut it down after use.
    public static func makeHTTPClient(_ configuration: FlowpayConfiguration) -> HTTPClient {
        var settings = HTTPClient.Configuration()
        settings.timeout = .init(connect: .seconds(configuration.connectTimeout.components.seconds),
                                 read: .seconds(configuration.requestTimeout.components.seconds))
        // Every customer's push goes to the same host: more than the default 8 connections, so a fleet's run is not
        // capped at 8 calls in flight.
        settings.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    public func putBankAccounts(customer: UUID, body: [UInt8], idempotencyKey: String) async throws {
        try await send(.PUT, FlowpayContract.bankAccountsPath(customer), body: body, idempotencyKey: idempotencyKey)
    }

    public func postBankTransactions(customer: UUID, body: [UInt8], idempotencyKey: String) async throws {
        try await send(.POST, FlowpayContract.bankTransactionsPath(customer), body: body, idempotencyKey: idempotencyKey)
    }

    public func postBankAccountsUpdated(customer: UUID, idempotencyKey: String) async throws {
        try await send(.POST, FlowpayContract.bankAccountsUpdatedPath(customer), body: nil, idempotencyKey: idempotencyKey)
    }

    /// The customer a financing belongs to (`GET /partner-api/v1/financings/{id}`, read for a financing webhook:
    /// the webhook names only the financing).
    public func financingCustomer(_ financing: UUID) async throws -> UUID {
        let answer = try await send(.GET, FlowpayContract.financingPath(financing), body: nil, idempotencyKey: UUID().uuidString.lowercased())
        guard let object = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any],
              let customer = (object[FlowpayContract.financingCustomerField] as? String).flatMap(UUID.init(uuidString:)) else {
            throw FlowpayError.protocolError("financing \(financing): the answer carries no \(FlowpayContract.financingCustomerField)")
        }
        return customer
    }

    /// One logical call: retried on 5xx/408/409/429/connection errors (honouring `Retry-After`), one token
    /// refresh on 401, other 4xx thrown as `.rejected` at once. The body is encoded once by the caller and
    /// resent as-is, under the same idempotency key.
    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, idempotencyKey: String) async throws -> [UInt8] {
        let policy = configuration.retry
        let started = ContinuousClock.now
        let buffer = body.map { ByteBuffer(bytes: $0) }
        var refreshedAfter401 = false
        var attempt = 0
        var metadata: Logger.Metadata = ["path": "\(path)", "idempotency_key": "\(idempotencyKey)"]
        while true {
            attempt += 1
            let token = try await tokens.token()
            var request = HTTPClientRequest(url: configuration.apiURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: FlowpayContract.idempotencyKeyHeader, value: idempotencyKey)
            request.headers.add(name: FlowpayContract.requestIDHeader, value: UUID().uuidString.lowercased())
            request.headers.add(name: "Accept", value: "application/json")
            if let buffer {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(buffer)
            }
            let problem: String
            var retryAfter: Duration?
            do {
                let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeout.components.seconds))
                let status = Int(response.status.code)
                let answer = try await response.body.collect(upTo: 4 << 20)
                metadata["status"] = "\(status)"
                if (200..<300).contains(status) {
                    logger.debug("Flowpay accepted", metadata: metadata)
                    return Array(answer.readableBytesView)
                }
                if status == 401, !refreshedAfter401 {
                    refreshedAfter401 = true
                    await tokens.invalidate(token)
                    attempt -= 1   // a token refresh is not a retry of the call
                    continue
                }
                let envelope = try? JSONDecoder().decode(FlowpayContract.ErrorEnvelope.self, from: Data(answer.readableBytesView))
                if status == 401 { throw FlowpayError.unauthorized("the API refused a freshly issued token") }
                guard RetryPolicy.isRetryable(status: status) else {
                    let error = FlowpayError.rejected(status: status, message: envelope?.message ?? "HTTP \(status)",
                                                      logref: envelope?.logref,
                                                      errors: envelope?._embedded?.errors?.map { FlowpayError.Detail(message: $0.message, path: $0.path) } ?? [])
                    logger.warning("Flowpay rejected", metadata: metadata.merging(["logref": "\(envelope?.logref ?? "-")"]) { $1 })
                    throw error
                }
                problem = "HTTP \(status)" + (envelope?.logref.map { " logref \($0)" } ?? "")
                retryAfter = RetryPolicy.retryAfter(response.headers.first(name: "Retry-After"))
                // Flowpay asking for a short pause: fewer customers at once would help (a long one is a quota).
                if status == 429, (retryAfter ?? .zero) <= .seconds(60) { ThrottleSignals.note() }
            } catch let error as FlowpayError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                problem = "\(error)"
            }
            let delay = retryAfter ?? policy.backoff(afterAttempt: attempt)
            guard attempt < policy.maxAttempts, started.duration(to: .now) + delay <= policy.maxTotal else {
                throw FlowpayError.retriesExhausted(attempts: attempt, last: problem)
            }
            logger.info("retrying Flowpay call", metadata: metadata.merging(["problem": "\(problem)", "attempt": "\(attempt)"]) { $1 })
            try await Task.sleep(for: delay)
        }
    }
}

extension FlowpayClient {
    /// Obtains an OAuth2 token with the configured client id and secret.
    public func checkToken() async throws {
        _ = try await tokens.token()
    }

    /// Obtains a token and makes one authenticated read (the financing lookup of an id no financing has):
    /// Flowpay's 404 proves the API answers and accepts the token. No data is written.
    public func checkAccess() async throws {
        do {
            try await send(.GET, FlowpayContract.financingPath(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!), body: nil, idempotencyKey: UUID().uuidString.lowercased())
        } catch FlowpayError.rejected(let status, _, let logref, _) where status == 404 && logref != nil {
            // Flowpay's own error envelope (with its logref): the partner API answered. A bare 404 (a wrong base
            // URL, a web server, a proxy) is not.
            return
        }
    }
}
