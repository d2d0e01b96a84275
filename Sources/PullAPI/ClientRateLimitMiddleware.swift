import Hummingbird
import Logging
import Store

/// Requests per client address per minute, counted before anything else is done (no key lookup, no body read),
/// so a flood of invalid keys never reaches the database. The address is the socket peer's, or, behind a trusted
/// proxy, the forwarded client's (`ClientAddress`). Health probes are exempt, and so are Flowpay's webhooks: the
/// contract says a webhook is always answered 200, and a forged one costs an HMAC over at most 16 KiB, in memory,
/// before it is dropped (`WebhookProcessor`), so a flood of them never reaches the database either — while a 429
/// would refuse Flowpay's own behind the same address. A request with a valid API key (`KnownAPIKeys`) is not
/// counted here at all, only against its key's own limit: an anonymous flood from the poller's address (or from
/// the whole internet behind one ingress) never starves Flowpay's poller.
struct ClientRateLimitMiddleware: RouterMiddleware {
    typealias Context = PullAPIContext

    let limiter: RateLimiter<String>
    let trustedProxies: TrustedProxies
    let knownKeys: KnownAPIKeys
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path != "/healthz", path != "/readyz", path != PullAPI.webhookPath else { return try await next(request, context) }
        let keyHash = request.headers[PullAPI.apiKeyHeader].flatMap { $0.isEmpty || $0.count > 200 ? nil : Store.apiKeyHash($0) }
        if let keyHash, await knownKeys.contains(keyHash) { return try await next(request, context) }
        let address = ClientAddress.key(peer: context.remoteAddress, headers: request.headers, trusted: trustedProxies)
        guard let wait = await limiter.admit(address) else { return try await next(request, context) }
        if let keyHash, await knownKeys.containsAfterRefresh(keyHash) { return try await next(request, context) }
        return APIError(status: .tooManyRequests, message: "Too Many Requests", errors: ["request rate exceeded for this address"],
                        headers: [.retryAfter: String(wait)]).response(path: path, logger: logger)
    }
}
