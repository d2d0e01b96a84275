import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A real HTTP server speaking GoCardless Bank Account Data's API (v2) as documented, over synthetic banks.
public enum GoCardlessSandbox {
    public static func router(state: GoCardlessSandboxState, publicURL: @escaping @Sendable () -> String) -> Router<SandboxContext> {
        let router = Router(context: SandboxContext.self)

        router.post("/api/v2/token/new/") { request, _ -> Response in
            let body = try await jsonBody(request)
            if await state.takeTokenRateLimit() {
                var answer = reply(429, ["summary": "Rate limit exceeded", "detail": "Too many token requests. Please try again in 1 seconds",
                                         "type": "RateLimitError", "status_code": 429])
                answer.headers[.retryAfter] = "1"
                return answer
            }
            guard let answer = await state.newToken(secretID: body["secret_id"] as? String, secretKey: body["secret_key"] as? String) else {
                return reply(401, ["summary": "Authentication failed", "detail": "No active account found with the given credentials", "status_code": 401])
            }
            return reply(200, answer)
        }
        router.post("/api/v2/token/refresh/") { request, _ -> Response in
            let body = try await jsonBody(request)
            guard let answer = await state.refreshToken(body["refresh"] as? String) else {
                return reply(401, ["summary": "Invalid token", "detail": "Token is invalid or expired", "status_code": 401])
            }
            return reply(200, answer)
        }

        router.get("/api/v2/institutions/{id}/") { request, context -> Response in
            if let denied = await unauthorised(request, state) { return denied }
            try await aggregatorLatency(state)
            let id = context.parameters.get("id") ?? ""
            guard let bank = GoCardlessSandboxState.institutions.first(where: { $0.id == id }) else { return notFound() }
            return reply(200, ["id": bank.id, "name": bank.name, "bic": bank.bic, "transaction_total_days": String(bank.totalDays),
                               "countries": ["CZ"], "max_access_valid_for_days": "180"])
        }
        router.post("/api/v2/agreements/enduser/") { request, _ -> Response in
            if let denied = await unauthorised(request, state) { return denied }
            let body = try await jsonBody(request)
            guard let institution = body["institution_id"] as? String,
                  let answer = await state.createAgreement(institution: institution, maxHistoricalDays: intField(body["max_historical_days"]) ?? 90,
                                                          accessValidForDays: intField(body["access_valid_for_days"]) ?? 90) else {
                return reply(400, ["institution_id": ["summary": "Unknown Institution ID", "detail": "Get Institution IDs from /institutions/"], "status_code": 400])
            }
            return reply(201, answer)
        }
        router.get("/api/v2/agreements/enduser/{id}/") { request, context -> Response in
            if let denied = await unauthorised(request, state) { return denied }
            try await aggregatorLatency(state)
            guard let answer = await state.agreement(context.parameters.get("id") ?? "") else { return notFound() }
            return reply(200, answer)
        }
        router.post("/api/v2/requisitions/") { request, _ -> Response in
            if let denied = await unauthorised(request, state) { return denied }
            let body = try await jsonBody(request)
            guard let redirect = body["redirect"] as? String, let institution = body["institution_id"] as? String,
                  let answer = await state.createRequisition(institution: institution, agreement: body["agreement"] as? String, redirect: redirect,
                                                             reference: (body["reference"] as? String) ?? UUID().uuidString, linkBase: publicURL()) else {
                return reply(400, ["summary": "Invalid requisition", "detail": "redirect and a known institution_id are required", "status_code": 400])
            }
            return reply(201, answer)
        }
        router.get("/api/v2/requisitions/{id}/") { request, context -> Response in
            if let denied = await unauthorised(request, state) { return denied }
            try await aggregatorLatency(state)
            guard let answer = await state.requisition(context.parameters.get("id") ?? "", linkBase: publicURL()) else { return notFound() }
            return reply(200, answer)
        }
        // The bank's consent screen, reduced to its outcome: ?approve=true|false (and &renewing=<earlier
        // requisition> when the user reconnects the same accounts), then back to the redirect.
        router.get("/sandbox-consent/{id}") { request, context -> Response in
            let approve = request.uri.queryParameters.get("approve") != "false"
            guard let back = await state.decide(requisition: context.parameters.get("id") ?? "", approve: approve,
                                                renewing: request.uri.queryParameters.get("renewing").map { String($0) }) else { return notFound() }
            return Response(status: .found, headers: [.location: back])
        }

        for scope in ["metadata", "details", "balances", "transactions"] {
            let path = scope == "metadata" ? "/api/v2/accounts/{id}/" : "/api/v2/accounts/{id}/\(scope)/"
            router.get(RouterPath(path)) { request, context -> Response in
                if let denied = await unauthorised(request, state) { return denied }
                await state.accountCallStarts(scope)
                do {
                    let response = try await answerAccountCall(request, context, scope: scope, state: state)
                    await state.accountCallEnds(scope)
                    return response
                } catch {
                    await state.accountCallEnds(scope)
                    throw error
                }
            }
        }

        // Any redirect a test needs: 302 to `to`.
        router.get("/_sandbox/redirect") { request, _ -> Response in
            Response(status: .found, headers: [.location: request.uri.queryParameters.get("to").map { String($0) } ?? "/"])
        }
        router.get("/_sandbox/gocardless/stats") { _, _ -> Response in reply(200, await state.stats()) }
        router.post("/_sandbox/gocardless/control") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let control = try? JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(body.readableBytesView)) else {
                return reply(400, ["message": "expected a control object"])
            }
            return reply(200, await state.apply(control))
        }
        return router
    }

    /// One account endpoint's answer: a slow bank's delay, the aggregator's latency, then the state's verdict.
    static func answerAccountCall(_ request: Request, _ context: some RequestContext, scope: String,
                                  state: GoCardlessSandboxState) async throws -> Response {
        // A slow bank behind the aggregator.
        if let delay = await state.responseDelayMilliseconds, delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
        try await aggregatorLatency(state)
        let query = request.uri.queryParameters
        let answer = await state.account(context.parameters.get("id") ?? "", scope: scope,
                                         dateFrom: query.get("date_from"), dateTo: query.get("date_to"))
        switch answer {
        case .ok(let json, let remaining): return reply(200, json, budget: scope == "metadata" ? nil : remaining)
        case .error(let status, let json, let remaining): return reply(status, json, budget: remaining)
        case .redirect(let status, let location):
            return Response(status: HTTPResponse.Status(code: status), headers: [.location: location])
        }
    }

    static func aggregatorLatency(_ state: GoCardlessSandboxState) async throws {
        let milliseconds = await state.noteCall()
        if milliseconds > 0 { try await Task.sleep(for: .milliseconds(milliseconds)) }
    }

    static func unauthorised(_ request: Request, _ state: GoCardlessSandboxState) async -> Response? {
        let token = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        if await state.isValid(access: token) { return nil }
        return reply(401, ["summary": "Invalid token", "detail": "Token is invalid or expired", "status_code": 401])
    }

    static func notFound() -> Response { reply(404, ["summary": "Not found.", "detail": "Not found.", "status_code": 404]) }

    static func reply(_ status: Int, _ json: Any, budget remaining: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let remaining {
            headers[HTTPField.Name("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_LIMIT")!] = "4"
            headers[HTTPField.Name("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_REMAINING")!] = String(remaining)
            headers[HTTPField.Name("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET")!] = "86400"
        }
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: jsonBytes(json))))
    }

    static func jsonBody(_ request: Request) async throws -> [String: Any] {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        return ((try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]) ?? [:]
    }
}

func intField(_ value: Any?) -> Int? {
    switch value {
    case let number as Int: number
    case let text as String: Int(text)
    default: nil
    }
}
