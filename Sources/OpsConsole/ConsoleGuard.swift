import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Store

/// The console's one gate, in front of every route: security headers on every response; a route not in
/// `ConsoleAccess` is 404; a POST not same-origin is 403; then who is asking (`ConsoleAuthenticator`) and whether
/// their role, the mode and the form token allow it. Handlers never check permissions themselves.
struct ConsoleGuard: RouterMiddleware {
    typealias Context = ConsoleContext

    let settings: ConsoleSettings
    let authenticator: ConsoleAuthenticator
    let actions: ConsoleActions
    let logger: Logger

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
        (.cacheControl, "no-store"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("Cross-Origin-Opener-Policy")!, "same-origin"),
        (HTTPField.Name("Cross-Origin-Resource-Policy")!, "same-origin"),
    ]

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await guarded(request, context: context, next: next)
        } catch let error as HTTPResponseError {
            response = ConsolePages.error(status: error.status, message: error.status == .notFound ? "There is no such page." : "\(error.status.reasonPhrase)")
        } catch {
            logger.error("console: request failed", metadata: ["path": "\(request.uri.path)", "problem": "\(error)"])
            response = ConsolePages.error(status: .internalServerError, message: "The console could not answer (logged). Try again.")
        }
        for (name, value) in Self.securityHeaders { response.headers[name] = value }
        // The guard's own answers (a redirect, an error page) to a HEAD: as to a GET, without the body.
        return request.method == .head ? response.createHeadResponse() : response
    }

    func guarded(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var request = request
        var context = context
        guard let access = ConsoleAccess.of(request.method, request.uri.path) else {
            return ConsolePages.error(status: .notFound, message: "There is no such page.")
        }
        context.identity = try await authenticator.identify(request, peer: context.remoteAddress?.ipAddress)
        if request.method == .post {
            guard isSameOrigin(request) else {
                logger.warning("console: cross-origin POST refused", metadata: ["path": "\(request.uri.path)"])
                // Audited when it names someone (their browser was used from another site); an anonymous one is only
                // logged and counted, so nobody can fill the audit log without signing in.
                if case .action(let action) = access {
                    await actions.audit(action, identity: context.identity, target: "-", reason: nil, before: nil, after: nil,
                                        outcome: "refused: not same-origin", command: "-", record: context.identity != nil)
                }
                return ConsolePages.error(status: .forbidden, message: "Refused: this form was not sent from the console itself.")
            }
            let body = try await request.collectBody(upTo: 16_384)
            context.form = ConsoleForm.parse(String(buffer: body))
        }
        switch access {
        case .open:
            return try await next(request, context)
        case .signedIn(let minimum):
            guard let identity = context.identity else {
                return request.method == .get || request.method == .head ? Response.redirect(to: "/console/sign-in", type: .normal)
                    : ConsolePages.error(status: .forbidden, message: "Refused: sign in first.")
            }
            guard identity.role >= minimum else { return ConsolePages.error(status: .forbidden, message: "Refused: your role may not see this.") }
            if request.method == .post, !tokenMatches(context) {
                return ConsolePages.error(status: .forbidden, message: "Refused: the form token is missing or stale. Reload the page.")
            }
            return try await next(request, context)
        case .action(let action):
            let refusal: String?
            if context.identity == nil { refusal = "refused: not signed in" }
            else if settings.mode == .readOnly { refusal = "refused: the console is read-only (BANKSYNC_CONSOLE_MODE)" }
            else if context.identity!.role < action.role { refusal = "refused: \(action.rawValue) needs the \(action.role.rawValue) role" }
            else if !tokenMatches(context) { refusal = "refused: missing or stale form token" }
            else { refusal = nil }
            if let refusal {
                await actions.audit(action, identity: context.identity, target: context.form[action.targetField] ?? "-",
                                    reason: context.form["reason"], before: nil, after: nil, outcome: refusal,
                                    command: action.command(target: context.form[action.targetField] ?? "", reason: context.form["reason"]),
                                    record: context.identity != nil)
                return ConsolePages.error(status: .forbidden, message: refusal.prefix(1).uppercased() + refusal.dropFirst() + ".")
            }
            return try await next(request, context)
        }
    }

    /// `Sec-Fetch-Site: same-origin` (browsers set it; a page cannot), else an `Origin` equal to the console's own.
    func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] { return site == "same-origin" }
        guard let origin = request.headers[.origin], origin != "null" else { return false }
        if let own = settings.origin { return origin == own }
        guard let host = request.head.authority else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    func tokenMatches(_ context: ConsoleContext) -> Bool {
        guard let identity = context.identity, let sent = context.form["form_token"] else { return false }
        return ConsoleAuthenticator.constantTimeEqual(Array(sent.utf8), Array(identity.formToken.utf8))
    }
}
