import BankSyncCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public struct GoCardlessConfiguration: Sendable {
    public static let publicAPI = "https://bankaccountdata.gocardless.com"
    public var apiURL: String
    public var secretID: String
    public var secretKey: String

    public init(apiURL: String = GoCardlessConfiguration.publicAPI, secretID: String, secretKey: String) {
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.secretID = secretID
        self.secretKey = secretKey
    }
}

/// GoCardless Bank Account Data over HTTP: JWT access/refresh tokens (`token/new`, `token/refresh`), error
/// classification into `SourceError`, and the per-account daily request budgets read from its headers.
public struct GoCardlessClient: Sendable {
    let configuration: GoCardlessConfiguration
    let http: SourceHTTP
    let tokens: GoCardlessTokens
    let budget = RequestBudget()
    let institutions = InstitutionCache()

    public init(configuration: GoCardlessConfiguration, httpClient: HTTPClient) {
        self.configuration = configuration
        http = SourceHTTP(client: httpClient)
        tokens = GoCardlessTokens(configuration: configuration, http: http)
    }

    /// An authenticated call; a token the API calls invalid is replaced once.
    func call(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, account: String? = nil) async throws(SourceError) -> [String: Any] {
        let payload = body.flatMap { try? JSONSerialization.data(withJSONObject: $0) }.map { Array($0) }
        let response = try await exchange(path, account: account) { token throws(SourceError) in
            try await http.send(method, configuration.apiURL + path, headers: [("Authorization", "Bearer \(token)")], body: payload)
        }
        return try JSONShape.object(response.body, account: account, what: path)
    }

    /// A GET whose 2xx body goes to `consume` as it arrives (a transactions history, read without holding it).
    func stream(_ path: String, account: String, into consume: (ByteBuffer) throws(SourceError) -> Void) async throws(SourceError) {
        _ = try await exchange(path, account: account) { token throws(SourceError) in
            try await http.stream(.GET, configuration.apiURL + path, headers: [("Authorization", "Bearer \(token)")], into: consume)
        }
    }

    /// One authenticated exchange: a token the API calls invalid is replaced once, short per-minute limits are
    /// waited out, anything else refused is classified. Returns the 2xx response.
    private func exchange(_ path: String, account: String?,
                          _ send: (String) async throws(SourceError) -> SourceHTTP.Response) async throws(SourceError) -> SourceHTTP.Response {
        var refreshed = false
        var waited = 0
        while true {
            let token = try await tokens.access()
            let response = try await send(token)
            if let account { await budget.note(response, account: account, scope: Self.scope(of: path)) }
            if (200..<300).contains(response.status) { return response }
            let problem = Problem(response)
            switch response.status {
            case 401 where problem.isTokenProblem && !refreshed:
                refreshed = true
                await tokens.invalidateAccess()
                continue
            case 429 where problem.type != "RateLimitError":
                // GoCardless's own per-minute limit: short waits are worth it, long ones are not.
                let seconds = problem.retrySeconds ?? Int(response.header("HTTP_X_RATELIMIT_RESET") ?? "") ?? 60
                guard seconds <= 30, waited < 3 else {
                    throw .rateLimited(account: account, retryAt: Date().addingTimeInterval(Double(seconds)), detail: problem.text)
                }
                ThrottleSignals.note()   // a short wait asked for: fewer customers at once would help
                waited += 1
                try? await Task.sleep(for: .seconds(max(seconds, 1)))
                continue
            default:
                throw problem.sourceError(status: response.status, account: account, resetHeader: response.header("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET"))
            }
        }
    }

    /// An institution's BIC and history depth, asked once per client (a run): every customer of a bank shares them.
    func institution(_ id: String) async throws(SourceError) -> InstitutionCache.Entry {
        if let known = await institutions.entry(id) { return known }
        let institution = try await call(.GET, "/api/v2/institutions/\(id)/")
        let entry = InstitutionCache.Entry(bic: JSONShape.string(institution["bic"]), totalDays: intValue(institution["transaction_total_days"]))
        await institutions.store(entry, for: id)
        return entry
    }

    static func scope(of path: String) -> String {
        for scope in ["transactions", "balances", "details"] where path.contains("/\(scope)/") { return scope }
        return "metadata"
    }

    /// GoCardless's error body: `{"summary","detail","status_code"}`, sometimes with a `type`; a 409
    /// `AccountStateError` answers with the account itself instead, whose `status` says why.
    struct Problem {
        let summary: String
        let detail: String
        let type: String?
        /// The account's `status` (PROCESSING, ERROR, EXPIRED, SUSPENDED…) when the body is an account.
        let accountStatus: String?

        init(_ response: SourceHTTP.Response) {
            let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            accountStatus = json["summary"] == nil ? JSONShape.string(json["status"]) : nil
            summary = JSONShape.string(json["summary"]) ?? accountStatus.map { "the account's status is \($0)" } ?? "HTTP \(response.status)"
            detail = JSONShape.string(json["detail"]) ?? ""
            type = JSONShape.string(json["type"])
        }

        var text: String { detail.isEmpty ? summary : "\(summary): \(detail)" }

        var isTokenProblem: Bool {
            let lower = text.lowercased()
            return lower.contains("token") && (lower.contains("invalid") || lower.contains("expired"))
        }

        var retrySeconds: Int? {
            guard let range = detail.range(of: "try again in ") else { return nil }
            return Int(detail[range.upperBound...].prefix { $0.isNumber })
        }

        func sourceError(status: Int, account: String?, resetHeader: String?) -> SourceError {
            let lower = text.lowercased()
            // The consent's refusals, told apart by their documented type before any wording is looked at.
            if let refusal = AccountRefusal(goCardlessType: type) { return .accountRefused(account: account, refusal, detail: text) }
            switch status {
            case 401 where isTokenProblem:
                // Our JWT, not the customer's consent ("Token is invalid or expired" says "expired" too).
                return .unauthorised("the access token was refused twice: \(text)")
            case 401, 403:
                if type == "AccessExpiredError" || type == "AccountInactiveError" || lower.contains("expired")
                    || lower.contains("revoked") || lower.contains("inactive") {
                    return .consentExpired(text)
                }
                return .unauthorised(text)
            case 409 where lower.contains("suspend") || lower.contains("expired"), 410:
                return .consentExpired(text)
            case 409 where accountStatus != nil:
                // AccountStateError: the account exists but cannot be read in its state (PROCESSING, ERROR…).
                return .unavailable("account \(account ?? "?") cannot be read in its state at GoCardless: \(text)")
            case 429:
                let retryAt = resetHeader.flatMap(Double.init).map { Date().addingTimeInterval($0) }
                return .rateLimited(account: account, retryAt: retryAt, detail: text)
            case 404 where account != nil:
                // One account gone from the requisition: that account's problem, the others carry on.
                return .unavailable("account \(account ?? "?") not found at GoCardless: \(text)")
            case 404:
                return .consentExpired("not found at GoCardless: \(text)")
            case 500...:
                return .unavailable(text)
            default:
                return .unavailable("HTTP \(status): \(text)")
            }
        }
    }
}

/// Per-account daily request budgets, as the `HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_*` headers report them.
actor RequestBudget {
    private var remaining: [String: (left: Int, resetAt: Date?)] = [:]

    func note(_ response: SourceHTTP.Response, account: String, scope: String) {
        guard let left = response.header("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_REMAINING").flatMap(Int.init) else { return }
        let reset = response.header("HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET").flatMap(Double.init).map { Date().addingTimeInterval($0) }
        remaining["\(account)/\(scope)"] = (left, reset)
    }

    /// Nil when a call may be made; otherwise when the budget comes back.
    func exhausted(account: String, scope: String) -> (Date?)? {
        guard let entry = remaining["\(account)/\(scope)"], entry.left <= 0 else { return nil }
        if let reset = entry.resetAt, reset <= Date() { return nil }
        return .some(entry.resetAt)
    }
}

/// Institutions already asked about in this run.
actor InstitutionCache {
    struct Entry: Sendable {
        let bic: String?
        let totalDays: Int?
    }

    private var entries: [String: Entry] = [:]

    func entry(_ id: String) -> Entry? { entries[id] }

    func store(_ entry: Entry, for id: String) { entries[id] = entry }
}
