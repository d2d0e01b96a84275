import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A real HTTP server that speaks Flowpay's partner API as the contract describes it: OAuth2 client
/// credentials, the three PUSH endpoints with Flowpay's validation and error envelope, Idempotency-Key
/// replays, plus a control API (`/_sandbox/…`) to read what was accepted and inject faults.
public enum FlowpaySandbox {
    public static func router(state: FlowpaySandboxState) -> Router<SandboxContext> {
        let router = Router(context: SandboxContext.self)

        router.post("/oauth/token") { request, _ -> Response in
            let form = parseForm(try await request.body.collect(upTo: 64 * 1024))
            guard form["grant_type"] == "client_credentials" else {
                return .json(.badRequest, encoding: ["error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"])
            }
            guard let issued = await state.issueToken(clientID: form["client_id"], clientSecret: form["client_secret"]) else {
                return .json(.unauthorized, encoding: ["error": "access_denied", "error_description": "Unauthorized"])
            }
            return .json(.ok, encoding: TokenAnswer(access_token: issued.token, token_type: "Bearer", expires_in: issued.lifetime))
        }

        router.put("/partner-api/v1/customers/{id}/bank-accounts") { request, context in
            try await partnerCall(request, context, state: state, kind: .accounts)
        }
        router.post("/partner-api/v1/customers/{id}/bank-transactions") { request, context in
            try await partnerCall(request, context, state: state, kind: .transactions)
        }
        router.post("/partner-api/v1/customers/{id}/bank-accounts-updated") { request, context in
            try await partnerCall(request, context, state: state, kind: .updated)
        }

        router.get("/partner-api/v1/financings/{id}") { request, context -> Response in
            let path = request.uri.path
            let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard await state.isValid(token: bearer) else {
                return envelope(.unauthorized, "Unauthorized", path: path, errors: ["missing, invalid or expired bearer token"])
            }
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)), let customer = await state.financing(id) else {
                return envelope(.notFound, "Not Found", path: path, errors: ["no such financing"])
            }
            return .json(.ok, encoding: ["id": id.uuidString.lowercased(), "customerId": customer.uuidString.lowercased(), "state": "NEW"])
        }
        router.get("/_sandbox/flowpay/state") { _, _ -> Response in .json(.ok, encoding: await state.snapshot()) }
        router.get("/_sandbox/flowpay/stats") { _, _ -> Response in .json(.ok, encoding: await state.stats()) }
        router.post("/_sandbox/flowpay/faults") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let fault = try? JSONDecoder().decode(FlowpaySandboxState.Fault.self, from: Data(body.readableBytesView)) else {
                return .json(.badRequest, encoding: ["message": "expected a fault object"])
            }
            await state.inject(fault)
            return .json(.ok, encoding: ["queued": true])
        }
        router.post("/_sandbox/flowpay/revoke-tokens") { _, _ -> Response in
            await state.revokeTokens()
            return .json(.ok, encoding: ["revoked": true])
        }
        return router
    }

    enum Kind { case accounts, transactions, updated }

    struct TokenAnswer: Encodable {
        let access_token: String
        let token_type: String
        let expires_in: Int
    }

    static func partnerCall(_ request: Request, _ context: SandboxContext, state: FlowpaySandboxState, kind: Kind) async throws -> Response {
        let path = request.uri.path
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        let body = Array((try await request.body.collect(upTo: 16 << 20)).readableBytesView)
        let response = try await handle(path: path, key: key, body: body, request: request, context: context, state: state, kind: kind)
        await state.record(.init(method: request.method.rawValue, path: path, idempotencyKey: key, status: Int(response.status.code)))
        return response
    }

    static func handle(path: String, key: String?, body: [UInt8], request: Request, context: SandboxContext,
                       state: FlowpaySandboxState, kind: Kind) async throws -> Response {
        if let fault = await state.nextFault() {
            if let delay = fault.delayMilliseconds { try await Task.sleep(for: .milliseconds(delay)) }
            if fault.drop == true {
                try? await context.channel.close()
                return Response(status: .internalServerError)
            }
            if let status = fault.status {
                var headers: HTTPFields = [:]
                if let retryAfter = fault.retryAfter { headers[.retryAfter] = retryAfter }
                return envelope(HTTPResponse.Status(code: status), "Injected fault", path: path,
                                errors: ["sandbox fault \(status)"], logref: fault.logref, headers: headers)
            }
        }
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard await state.isValid(token: bearer) else {
            return envelope(.unauthorized, "Unauthorized", path: path, errors: ["missing, invalid or expired bearer token"])
        }
        guard let customer = context.parameters.get("id"), UUID(uuidString: customer) != nil else {
            return envelope(.notFound, "Not Found", path: path, errors: ["customer id must be a UUID"])
        }
        let bodyHash = sha256(Array(path.utf8) + [0] + body)
        guard let key else {
            let answer = await process(path: path, customer: customer, key: "", body: body, state: state, kind: kind)
            return .json(answer.status, answer.body)
        }
        switch await state.admit(key: key, bodyHash: bodyHash) {
        case .inProgress:
            return envelope(.conflict, "Conflict", path: path, errors: ["a request with Idempotency-Key \(key) is still being processed"])
        case .differentBody:
            return envelope(.unprocessableContent, "Unprocessable Entity", path: path,
                            errors: ["Idempotency-Key \(key) was used with a different request"])
        case .replay(let status, let stored):
            return .json(HTTPResponse.Status(code: status), stored)
        case .proceed:
            let answer = await process(path: path, customer: customer, key: key, body: body, state: state, kind: kind)
            await state.finish(key: key, bodyHash: bodyHash, status: Int(answer.status.code), body: answer.body)
            return .json(answer.status, answer.body)
        }
    }

    /// Validates and records one admitted request; the answer is what Flowpay would say.
    static func process(path: String, customer: String, key: String, body: [UInt8], state: FlowpaySandboxState,
                        kind: Kind) async -> (status: HTTPResponse.Status, body: [UInt8]) {
        if let reason = await state.customerRefusal(customer) {
            // Flowpay's business validation of the customer itself: one error naming no row.
            return (.unprocessableContent, envelopeBytes("Unprocessable Entity", path: path, errors: [reason],
                                                         logref: await state.refusalLogref))
        }
        switch kind {
        case .accounts:
            switch FlowpaySandboxValidation.accounts(body) {
            case .failure(let problem):
                return (problem.status, envelopeBytes(problem.message, path: path, errors: problem.errors))
            case .success(let count):
                await state.accept(accountsJSON: String(decoding: body, as: UTF8.self), count: count, customer: customer, key: key)
            }
        case .transactions:
            switch FlowpaySandboxValidation.transactions(body, key: key, today: await state.currentDay) {
            case .failure(let problem):
                return (problem.status, envelopeBytes(problem.message, path: path, errors: problem.errors))
            case .success(let batch):
                // Business rule stand-in for "one row Flowpay cannot take" (an over-long name, an odd IBAN).
                // Each refused row is named as Micronaut's validation names it: its property path in the
                // message and its JSON pointer in `path` (or, with `namingIDs`, by its id in the message).
                let refused = await state.refusedRows(batch)
                if !refused.isEmpty {
                    let namingIDs = await state.refusalNamesIDs
                    let errors = refused.map { index in
                        namingIDs ? SandboxEnvelope.Message(message: "transaction \(batch[index].id) has a counterName over the maximum length")
                            : SandboxEnvelope.Message(message: "[\(index)].counterName: exceeds the maximum length", path: "/\(index)/counterName")
                    }
                    return (.unprocessableContent, envelopeBytes("Unprocessable Entity", path: path, details: errors,
                                                                 logref: await state.refusalLogref))
                }
                await state.accept(transactions: batch, customer: customer, key: key)
            }
        case .updated:
            await state.acceptUpdated(customer: customer, key: key)
        }
        return (.ok, Array("{}".utf8))
    }

    static func envelope(_ status: HTTPResponse.Status, _ message: String, path: String, errors: [String],
                         logref: String? = nil, headers: HTTPFields = [:]) -> Response {
        .json(status, envelopeBytes(message, path: path, errors: errors, logref: logref), headers: headers)
    }

    static func envelopeBytes(_ message: String, path: String, errors: [String], logref: String? = nil) -> [UInt8] {
        envelopeBytes(message, path: path, details: errors.map { SandboxEnvelope.Message(message: $0) }, logref: logref)
    }

    static func envelopeBytes(_ message: String, path: String, details: [SandboxEnvelope.Message], logref: String? = nil) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let envelope = SandboxEnvelope(message: message, logref: logref ?? String(UUID().uuidString.lowercased().prefix(18)), errors: details, path: path)
        return Array((try? encoder.encode(envelope)) ?? Data("{}".utf8))
    }

    static func parseForm(_ buffer: ByteBuffer) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }
}

/// Flowpay's error envelope, as the sandbox writes it.
struct SandboxEnvelope: Encodable {
    struct Message: Encodable {
        var message: String
        /// The JSON pointer of what the error is about, when it is about a part of the body.
        var path: String? = nil
    }
    struct Embedded: Encodable { let errors: [Message] }
    struct Link: Encodable { let href: String; let templated: Bool }
    struct Links: Encodable { let `self`: Link }
    let message: String
    let logref: String
    let _embedded: Embedded
    let _links: Links

    init(message: String, logref: String, errors: [Message], path: String) {
        self.message = message
        self.logref = logref
        _embedded = Embedded(errors: errors)
        _links = Links(self: Link(href: path, templated: false))
    }
}
