import BankSyncCore
import Flowpay
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Store
import SyncEngine

/// `banksync serve`: Flowpay's PULL feeds, the Flowpay webhook receiver and health endpoints.
///
/// Feeds need an `X-API-Key`; every error is Flowpay's envelope with a logref that is also logged.
/// It only reads what the sync stored; it never pulls from a bank or pushes to Flowpay itself.
public struct PullAPI: Sendable {
    public struct Settings: Sendable {
        public var requestsPerMinute = 600
        /// Requests per client address per minute, before authentication (`BANKSYNC_CLIENT_RATE_PER_MINUTE`).
        public var requestsPerMinutePerAddress = 1_200
        /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client (`BANKSYNC_TRUSTED_PROXIES`; default none).
        public var trustedProxies = TrustedProxies.none
        /// Client addresses (IPv6: /64s) whose buckets are kept; past that the least recently seen is forgotten.
        public var addressTableCapacity = 50_000
        public var expectedSchemaVersion: Int
        /// How often serve re-reads the schema version besides every readiness probe (`SchemaWatch`).
        public var schemaCheckInterval: Duration = .seconds(30)

        public init(expectedSchemaVersion: Int) { self.expectedSchemaVersion = expectedSchemaVersion }
    }

    let pool: ConnectionPool
    let webhooks: WebhookProcessor
    let settings: Settings
    let limiter: RateLimiter<Int64>
    let addressLimiter: RateLimiter<String>
    let knownKeys: KnownAPIKeys
    let logger: Logger
    let consents: ConsentCallbacks?
    /// Run it as a service of serve's group: it stops serve when the schema moves under it.
    public let schemaWatch: SchemaWatch

    public init(pool: ConnectionPool, webhooks: WebhookProcessor, settings: Settings, logger: Logger, consents: ConsentCallbacks? = nil) {
        self.pool = pool
        self.webhooks = webhooks
        self.settings = settings
        self.logger = logger
        self.consents = consents
        limiter = RateLimiter(perMinute: settings.requestsPerMinute)
        addressLimiter = RateLimiter(perMinute: settings.requestsPerMinutePerAddress, capacity: settings.addressTableCapacity)
        knownKeys = KnownAPIKeys(pool: pool)
        schemaWatch = SchemaWatch(pool: pool, expected: settings.expectedSchemaVersion, interval: settings.schemaCheckInterval, logger: logger)
    }

    public func router() -> Router<PullAPIContext> {
        let router = Router(context: PullAPIContext.self)
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(ClientRateLimitMiddleware(limiter: addressLimiter, trustedProxies: settings.trustedProxies,
                                                            knownKeys: knownKeys, logger: logger))
        router.get("/healthz") { _, _ in Self.json(["status": "ok"]) }
        router.middlewares.add(SchemaMovedMiddleware(watch: schemaWatch, logger: logger))
        // Public: says whether to route traffic here, not the schema version (the metrics listener's /readyz says why).
        router.get("/readyz") { _, _ -> Response in
            switch await schemaWatch.readiness() {
            case .ready: Self.json(["status": "ready"])
            case .schemaMoved: Self.json(["status": "not ready"], status: .serviceUnavailable)
            case .databaseUnreachable: Self.json(["status": "database unreachable"], status: .serviceUnavailable)
            }
        }
        router.get("/flowpay/v1/bank-accounts") { request, _ in
            await handle(request) { grant in try await bankAccounts(request, grant) }
        }
        router.get("/flowpay/v1/bank-transactions") { request, _ in
            await handle(request) { grant in try await bankTransactions(request, grant) }
        }
        router.post(RouterPath(Self.webhookPath)) { request, _ -> Response in
            var request = request
            // Flowpay's events are a few hundred bytes: anything larger is not Flowpay and is dropped unread.
            guard let buffer = try? await request.collectBody(upTo: Self.webhookBodyLimit) else {
                webhooks.drop("oversized", "body over \(Self.webhookBodyLimit) bytes")
                // The rest of the body is not read (`BodyLimitHandler` cut it): the connection closes after the answer.
                var answer = Self.json(["received": true])
                answer.headers[.connection] = "close"
                return answer
            }
            webhooks.receive(.init(body: Array(buffer.readableBytesView), signature: request.headers[HTTPField.Name(FlowpayContract.signatureHeader)!],
                                   timestamp: request.headers[HTTPField.Name(FlowpayContract.timestampHeader)!]))
            // 200 at once in every case (a bad signature too); verified ones are processed after the response.
            return Self.json(["received": true])
        }
        consents?.register(on: router)
        OpenAPISpec.register(on: router)
        router.add(middleware: MethodNotAllowedMiddleware(served: servedMethods, logger: logger))
        return router
    }

    /// Every path `router()` registers, with its methods (for 405 answers).
    var servedMethods: [String: [HTTPRequest.Method]] {
        var served: [String: [HTTPRequest.Method]] = [
            "/healthz": [.get], "/readyz": [.get], "/openapi.yaml": [.get], "/webhooks/flowpay": [.post],
            "/flowpay/v1/bank-accounts": [.get], "/flowpay/v1/bank-transactions": [.get],
        ]
        if consents != nil {
            served["/consents/gocardless/callback"] = [.get]
            served["/consents/berlingroup/callback"] = [.get]
        }
        return served
    }

    func handle(_ request: Request, _ body: (APIKeyGrant) async throws -> Response) async -> Response {
        do {
            return try await body(try await authenticate(request))
        } catch let error as APIError {
            return error.response(path: request.uri.path, logger: logger)
        } catch {
            return APIError(status: .serviceUnavailable, message: "Service Unavailable", errors: ["the database is not reachable"])
                .response(path: request.uri.path, logger: logger)
        }
    }

    /// The HTTP/1.1 server to run `router()` on: bodies over their limit are refused there, unread
    /// (`BodyLimitHandler`): a webhook's with Flowpay's 200, any other with 413.
    public var httpServer: HTTPServerBuilder {
        let webhooks = webhooks
        let refused: @Sendable (String) -> Void = { path in
            if path == Self.webhookPath { webhooks.drop("oversized", "body over \(Self.webhookBodyLimit) bytes (from its Content-Length)") }
        }
        return .http1(configuration: .init(additionalChannelHandlers: [BodyLimitHandler(rule: { Self.bodyRule($0) }, refused: refused)]))
    }

    /// What a path's body may hold. Only the webhook takes a body; the rest get the same bound, so nothing is
    /// ever read past 16 KiB.
    static func bodyRule(_ path: String) -> BodyLimitHandler.Rule {
        path == webhookPath ? .init(limit: webhookBodyLimit, status: .ok, body: #"{"received":true}"#)
            : .init(limit: webhookBodyLimit, status: .contentTooLarge, body: #"{"message":"Content Too Large"}"#)
    }

    /// Where Flowpay posts its webhooks: always answered 200.
    static let webhookPath = "/webhooks/flowpay"

    static let apiKeyHeader = HTTPField.Name("X-API-Key")!

    /// Bytes a webhook body may have (16 KiB).
    static let webhookBodyLimit = 16 << 10

    func authenticate(_ request: Request) async throws -> APIKeyGrant {
        guard let presented = request.headers[Self.apiKeyHeader], !presented.isEmpty, presented.count <= 200 else {
            throw APIError(status: .unauthorized, message: "Unauthorized", errors: ["X-API-Key is missing"])
        }
        // The key and the merchant the request names, in one round trip.
        let merchantID = request.uri.queryParameters.get("merchantId").map { String($0) }
        guard let grant = try await pool.withReadStore({ try $0.authenticate(apiKey: presented, merchantID: merchantID) }) else {
            await knownKeys.forget(Store.apiKeyHash(presented))
            throw APIError(status: .unauthorized, message: "Unauthorized", errors: ["X-API-Key is not valid"])
        }
        // From now on this key's requests count only against its own limit, not its address's.
        await knownKeys.learn(Store.apiKeyHash(presented))
        if let wait = await limiter.admit(grant.id) {
            throw APIError(status: .tooManyRequests, message: "Too Many Requests", errors: ["request rate exceeded for this key"],
                           headers: [.retryAfter: String(wait)])
        }
        return grant
    }

    /// The merchant a request names, when the key may read it. A scoped key gets the same 404 for a merchant
    /// outside its scope as for one that does not exist, so answers never tell which merchant ids exist.
    func merchant(_ request: Request, _ grant: APIKeyGrant) async throws -> Int64 {
        guard let merchantID = request.uri.queryParameters.get("merchantId"), !merchantID.isEmpty else {
            throw APIError.badRequest("merchantId is required")
        }
        guard grant.allows(merchant: merchantID), let customerID = grant.namedCustomerID else {
            throw APIError(status: .notFound, message: "Not Found", errors: ["unknown merchantId"])
        }
        return customerID
    }

    func bankAccounts(_ request: Request, _ grant: APIKeyGrant) async throws -> Response {
        let customerID = try await merchant(request, grant)
        let (accounts, reconciliations) = try await pool.withReadStore {
            (try $0.accountsForPush(customerID: customerID), try $0.reconciliations(customerID: customerID))
        }
        let body = FlowpayContract.encode(accounts: try ContractMapping.accounts(accounts, reconciliations: reconciliations))
        return Self.raw(Array(#"{"data":"#.utf8) + body + Array("}".utf8))
    }

    func bankTransactions(_ request: Request, _ grant: APIKeyGrant) async throws -> Response {
        let query = request.uri.queryParameters
        let customerID = try await merchant(request, grant)
        var size = 100
        if let text = query.get("size") {
            guard let value = Int(text), (1...1000).contains(value) else { throw APIError.badRequest("size must be an integer 1…1000") }
            size = value
        }
        var cursor: FeedCursor?
        if let text = query.get("page") {
            guard let parsed = FeedCursor(token: text) else { throw APIError.badRequest("page is not a cursor this API issued") }
            cursor = parsed
        }
        var visibleAfter: String?
        if let text = query.get("updatedAt") {
            // Normalised here to UTC with its fraction kept (up to microseconds), so PostgreSQL reads it at full
            // precision and never refuses it (an RFC 3339 offset may exceed what PostgreSQL accepts).
            guard let normalised = Self.utcInstant(text) else {
                throw APIError.badRequest("updatedAt must be an ISO-8601 instant like 2026-11-26T10:00:00.000000Z")
            }
            visibleAfter = normalised
        }
        let (after, since, limit) = (cursor, visibleAfter, size)
        let (page, resumeFrom) = try await pool.withReadStore {
            try await $0.feedTransactions(customerID: customerID, after: after, visibleAfter: since, limit: limit)
        }
        let data = FlowpayContract.encode(transactions: try page.map { try ContractMapping.transaction($0.transaction) })
        // The envelope is written around the page straight into the response's buffer: the page's bytes are
        // copied once (concatenating arrays copied a 300 KB page three times, ~9% of serve's CPU at 8 connections).
        var body = ByteBuffer()
        body.reserveCapacity(data.count + 128)
        body.writeString(#"{"data":"#)
        body.writeBytes(data)
        // Our choice: every non-empty page carries the cursor after its last row, so a poller that keeps it
        // continues exactly after what it read; an empty page (nothing more yet) is the last page and has none.
        if let last = page.last {
            body.writeString(#","nextPage":""#)
            body.writeString(last.cursor.token)
            body.writeString("\"")
        }
        body.writeString("}")
        var response = Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
        // Our choice: the instant to pass as the next `updatedAt` (the database's clock, microseconds). A full page
        // keeps the request's own `updatedAt`: the poller follows nextPage before it moves on.
        if let resume = resumeFrom ?? since {
            response.headers[HTTPField.Name("X-Updated-Until")!] = resume
        }
        return response
    }

    /// An RFC 3339 date-time as UTC text with its fraction (at most six digits), or nil.
    static func utcInstant(_ text: String) -> String? {
        guard let match = text.wholeMatch(of: /(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))/),
              let whole = WebhookVerifier.parseInstant("\(match.1)T\(match.2)Z") else { return nil }
        var seconds = whole.timeIntervalSince1970
        if let sign = match.5, let hours = Int(match.6 ?? ""), let minutes = Int(match.7 ?? ""), hours < 24, minutes < 60 {
            seconds -= (sign == "-" ? -1 : 1) * Double(hours * 3_600 + minutes * 60)
        } else if match.5 != nil {
            return nil
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let base = formatter.string(from: Date(timeIntervalSince1970: seconds))
        return String(base.dropLast()) + String((match.3 ?? "").prefix(7)) + "Z"
    }

    static func raw(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let bytes = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
