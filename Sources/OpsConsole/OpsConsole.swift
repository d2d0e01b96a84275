import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PullAPI
import Store
import SyncEngine

/// The ops console: server-rendered pages over the Store on `serve`'s third listener (`BANKSYNC_CONSOLE_LISTEN`),
/// for the partner's ops team: status → reason → next step, the bank's proof, audited actions.
///
/// Every route sits behind `ConsoleGuard` (one table of who may do what, default deny). It must never be
/// mounted on the public listener, never render unescaped text (`HTML`), never run a query without a statement
/// timeout, and never count a big table.
public struct OpsConsole: Sendable {
    let pool: ConnectionPool
    let settings: ConsoleSettings
    let logger: Logger
    let authenticator: ConsoleAuthenticator
    let actions: ConsoleActions

    /// `links`: creates renewal links at the customers' sources (nil: the console only shows the CLI command).
    public init(pool: ConnectionPool, settings: ConsoleSettings, logger: Logger, links: ConsentLinkMaker? = nil) {
        self.pool = pool
        self.settings = settings
        self.logger = logger
        authenticator = ConsoleAuthenticator(settings: settings, pool: pool, logger: logger)
        actions = ConsoleActions(pool: pool, logger: logger, links: links)
    }

    public func router() -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ConsoleGuard(settings: settings, authenticator: authenticator, actions: actions, logger: logger))
        router.get("/console/assets/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console/assets/console.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("/console/sign-in") { _, _ in ConsolePages.signIn(message: nil, keyConfigured: settings.breakGlassKeyHash != nil) }
        router.post("/console/sign-in") { _, context in try await signIn(context) }
        router.post("/console/sign-out") { request, _ in try await signOut(request) }
        router.get("/console") { request, context in try await attention(request, context) }
        router.get("/console/customers") { request, context in
            let query = Self.query(request)
            let filter = CustomerFilter(query: query)
            let after = query["after"].flatMap(LagPageKey.init(text:))
            let limit = Self.pageSize(query)
            let rows = try await read {
                try $0.lagReportPage(LagPage(after: after, limit: limit, source: filter.source, status: filter.status, text: filter.text))
            }
            return ConsolePages.customers(rows, filter: filter, after: after, limit: limit, frame: try frame(context))
        }
        router.get("/console/customers.csv") { _, _ in
            Self.asset(LagExport.csv(try await read { try $0.lagReport() }, perAccount: false) + "\n", type: "text/csv; charset=utf-8")
        }
        router.get("/console/customers.json") { _, _ in
            Self.asset(LagExport.json(try await read { try $0.lagReport() }) + "\n", type: "application/json")
        }
        router.get("/console/customers/:id") { request, context in try await customer(request, context) }
        router.get("/console/accounts/:id/reconciliation") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self),
                  let data = try await read({ try $0.consoleReconciliation(accountID: id) }) else { throw HTTPError(.notFound) }
            return ConsolePages.reconciliation(data, frame: try frame(context))
        }
        router.get("/console/held") { request, context in
            let query = Self.query(request)
            let after = query["after"].flatMap(HeldTransaction.PageKey.init(text:))
            let limit = Self.pageSize(query)
            let rows = try await read { try $0.heldTransactions(after: after, limit: limit + 1) }
            return ConsolePages.held(rows, after: after, limit: limit, frame: try frame(context))
        }
        router.get("/console/refused") { request, context in
            let after = Self.query(request)["after"].flatMap { Int64($0) }
            let (refused, unreadable) = try await read {
                (try $0.consoleRefusedRows(after: after, limit: ConsolePages.listLimit),
                 try $0.unreadableRows(customerID: nil, limit: ConsolePages.listLimit))
            }
            return ConsolePages.refused(refused, unreadable: unreadable, after: after, frame: try frame(context))
        }
        router.get("/console/consents") { request, context in
            let cursor = Self.query(request)["after"]
            let after = cursor.flatMap(Self.consentCursor)
            let consents = try await read { try $0.consoleConsents(after: after, withinDays: nil, limit: ConsolePages.listLimit) }
            return ConsolePages.consents(consents, after: cursor, frame: try frame(context))
        }
        router.get("/console/audit") { request, context in
            let before = Self.query(request)["before"].flatMap { Int64($0) }
            let entries = try await read { try $0.consoleAudit(before: before, limit: ConsolePages.listLimit) }
            return ConsolePages.audit(entries, before: before, frame: try frame(context))
        }
        router.post("/console/actions/:name") { _, context in
            guard let name = context.parameters.get("name"), let action = ConsoleAction(rawValue: name), let identity = context.identity else {
                throw HTTPError(.notFound)
            }
            let result = await actions.perform(action, by: identity, form: context.form)
            return ConsolePages.actionResult(action, result, frame: try frame(context))
        }
        return router
    }

    // MARK: pages

    func attention(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let limit = ConsolePages.listLimit
        let query = Self.query(request)
        let after = query["after"].flatMap(InterruptionPageKey.init(text:))
        let interruptionLimit = Self.pageSize(query)
        let data = try await read { store in
            let (interruptions, next) = try store.interruptions(after: after, limit: interruptionLimit)
            return AttentionData(interruptions: interruptions, interruptionsAfter: after, nextInterruptions: next, expiring: try store.consoleConsents(after: nil, withinDays: 14, limit: limit),
                          held: try store.heldTransactions(limit: limit), differences: try store.consoleDifferences(limit: limit),
                          refused: try store.consoleRefusedRows(after: nil, limit: limit), unreadable: try store.unreadableRows(customerID: nil, limit: limit),
                          backlog: try store.consoleOutboxBacklog(), lastRun: try store.consoleLastRun())
        }
        return ConsolePages.attention(data, frame: try frame(context))
    }

    func customer(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw HTTPError(.notFound) }
        let before = Self.query(request)["before"].flatMap { Int64($0) }
        guard let data = try await read({ store -> CustomerData? in
            guard let record = try store.customer(flowpayCustomerID: id) else { return nil }
            return CustomerData(record: record, lag: try store.lagReport(flowpayCustomerID: id).first,
                                pause: try store.customerPause(flowpayCustomerID: id), accounts: try store.consoleAccounts(customerID: record.customer.id),
                                timeline: try store.consoleTimeline(customerID: record.customer.id, before: before, limit: ConsolePages.timelinePage),
                                allowance: try store.readAllowance(flowpayCustomerID: id))
        }) else { throw HTTPError(.notFound) }
        return ConsolePages.customer(data, before: before, frame: try frame(context))
    }

    // MARK: sessions

    func signIn(_ context: ConsoleContext) async throws -> Response {
        guard let key = context.form["key"], authenticator.breakGlassKeyMatches(key) else {
            logger.warning("console: break-glass sign-in refused", metadata: ["peer": "\(context.remoteAddress?.ipAddress ?? "?")"])
            var response = ConsolePages.signIn(message: "That key is not the console key.", keyConfigured: settings.breakGlassKeyHash != nil)
            response.status = .unauthorized
            return response
        }
        let cookie = ConsoleAuthenticator.randomToken()
        let who = "break-glass@\(context.remoteAddress?.ipAddress ?? "?")"
        try await pool.withStore { store in
            try store.createConsoleSession(cookieValue: cookie, who: who, role: settings.breakGlassRole,
                                           formToken: ConsoleAuthenticator.randomToken(), lifetime: settings.sessionLifetime)
        }
        logger.notice("console: break-glass session started", metadata: ["who": "\(who)", "role": "\(settings.breakGlassRole.rawValue)"])
        var response = Response.redirect(to: "/console", type: .found)
        response.status = .seeOther
        response.headers[.setCookie] = "\(ConsoleAuthenticator.cookieName)=\(cookie); Path=/console; Max-Age=\(Int(settings.sessionLifetime)); "
            + "HttpOnly; Secure; SameSite=Strict"
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        if let cookie = request.cookies[ConsoleAuthenticator.cookieName]?.value {
            try await pool.withStore { try $0.endConsoleSession(cookieValue: cookie) }
        }
        var response = Response.redirect(to: "/console/sign-in", type: .found)
        response.status = .seeOther
        response.headers[.setCookie] = "\(ConsoleAuthenticator.cookieName)=; Path=/console; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        return response
    }

    // MARK: helpers

    /// A read on a pooled connection, in a read-only transaction with a statement timeout.
    func read<T: Sendable>(_ body: @escaping @Sendable (Store) throws -> T) async throws -> T {
        try await pool.withReadStore { store in try await store.withStatementTimeout { try body(store) } }
    }

    func frame(_ context: ConsoleContext) throws -> ConsolePages.Frame {
        guard let identity = context.identity else { throw HTTPError(.forbidden) }
        return ConsolePages.Frame(identity: identity, mode: settings.mode)
    }

    static func query(_ request: Request) -> [String: String] { ConsoleForm.parse(request.uri.query ?? "") }

    /// A list page's size: `limit` from the URL (1…200), else `ConsolePages.listLimit`.
    static func pageSize(_ query: [String: String]) -> Int {
        query["limit"].flatMap { Int($0) }.map { min(max($0, 1), 200) } ?? ConsolePages.listLimit
    }

    static func consentCursor(_ text: String) -> (Date, String)? {
        let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let formatter = ISO8601DateFormatter()
        let date = parts[0] == "-" ? Date.distantFuture : formatter.date(from: String(parts[0]))
        return date.map { ($0, String(parts[1])) }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
