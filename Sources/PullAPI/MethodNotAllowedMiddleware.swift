import HTTPTypes
import Hummingbird
import Logging

/// Answers a request for a path the API serves, made with a method that path does not serve, with
/// 405 and `Allow` (HTTP semantics, RFC 9110 §15.5.6) in Flowpay's error envelope; the router alone says 404.
///
/// Added to the router after every route, so it wraps only the router's not-found responder.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = PullAPIContext

    let served: [String: [HTTPRequest.Method]]
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let methods = served[request.uri.path], !methods.contains(request.method) else {
            return try await next(request, context)
        }
        let allow = methods.map(\.rawValue).joined(separator: ", ")
        return APIError(status: .methodNotAllowed, message: "Method Not Allowed",
                        errors: ["\(request.method.rawValue) is not served here; allowed: \(allow)"], headers: [.allow: allow])
            .response(path: request.uri.path, logger: logger)
    }
}
