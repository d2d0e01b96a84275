import Hummingbird
import Logging

/// Requests per client address per minute, counted before anything else is done (no key lookup, no body read),
/// so a flood of invalid keys never reaches the database. Health probes are exempt, and so are Flowpay's
/// webhooks: the contract says a webhook is always answered 200, and a forged one costs an HMAC over at most
/// 16 KiB, in memory, before it is dropped (`WebhookProcessor`), so a flood of them never reaches the database
/// either — while a 429 would refuse Flowpay's own behind the same address.
struct ClientRateLimitMiddleware: RouterMiddleware {
    typealias Context = PullAPIContext

    let limiter: RateLimiter<String>
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path != "/healthz", path != "/readyz", path != PullAPI.webhookPath, let wait = await limiter.admit(context.clientAddress) else {
            return try await next(request, context)
        }
        return APIError(status: .tooManyRequests, message: "Too Many Requests", errors: ["request rate exceeded for this address"],
                        headers: [.retryAfter: String(wait)]).response(path: path, logger: logger)
    }
}
