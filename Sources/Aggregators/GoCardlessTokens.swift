import Foundation

/// The access token (about a day) and the refresh token (about a month): the access token is refreshed
/// shortly before it expires, and a new pair is requested when the refresh token has expired too.
///
/// One request for tokens is in flight at a time, whoever needs one: every customer syncing at once waits for
/// the same answer (each asking for itself spent GoCardless's token limit, up to one call per customer in
/// flight). A 429 from the token endpoints is waited out when it asks for a short wait.
actor GoCardlessTokens {
    private let configuration: GoCardlessConfiguration
    private let http: SourceHTTP
    private var access: (value: String, until: Date)?
    private var refresh: (value: String, until: Date)?
    /// The token request every caller waits for, while one is in flight.
    private var inFlight: Task<Result<String, SourceError>, Never>?

    /// The longest 429 wait worth making, and how many such waits one request makes before giving up.
    static let longestWait = 30
    static let waits = 3

    init(configuration: GoCardlessConfiguration, http: SourceHTTP) {
        self.configuration = configuration
        self.http = http
    }

    func invalidateAccess() { access = nil }

    func access() async throws(SourceError) -> String {
        if let access, access.until > Date() { return access.value }
        if let inFlight { return try await inFlight.value.get() }
        // Not detached: it runs on this actor, and only its own suspension points let other callers in (to wait).
        let request = Task { await self.obtain() }
        inFlight = request
        let result = await request.value
        inFlight = nil
        return try result.get()
    }

    private func obtain() async -> Result<String, SourceError> {
        do {
            return .success(try await requestTokens())
        } catch {
            return .failure(error)
        }
    }

    private func requestTokens() async throws(SourceError) -> String {
        if let refresh, refresh.until > Date() {
            let response = try await post("/api/v2/token/refresh/", body: Array(#"{"refresh":"\#(refresh.value)"}"#.utf8))
            if response.status == 200 {
                let json = try JSONShape.object(response.body, account: nil, what: "token/refresh")
                return try store(json, includesRefresh: false)
            }
            self.refresh = nil   // refused or expired early: fall through to a new pair
        }
        let body = try? JSONSerialization.data(withJSONObject: ["secret_id": configuration.secretID, "secret_key": configuration.secretKey])
        let response = try await post("/api/v2/token/new/", body: body.map { Array($0) })
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 {
                throw .unauthorised("token/new refused the secret id/key (HTTP \(response.status))")
            }
            throw .unavailable("token/new answered HTTP \(response.status)")
        }
        return try store(try JSONShape.object(response.body, account: nil, what: "token/new"), includesRefresh: true)
    }

    /// A token call. A 429 (the token endpoints' own limit) is waited out when it asks for at most
    /// `longestWait` seconds (`Retry-After`, else the "try again in N seconds" of its detail), up to `waits`
    /// times; a longer one is `rateLimited` with when to come back, never "unavailable".
    private func post(_ path: String, body: [UInt8]?) async throws(SourceError) -> SourceHTTP.Response {
        var waited = 0
        while true {
            let response = try await http.send(.POST, configuration.apiURL + path, headers: [], body: body)
            guard response.status == 429 else { return response }
            let problem = GoCardlessClient.Problem(response)
            let seconds = response.header("Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                ?? problem.retrySeconds ?? Int(response.header("HTTP_X_RATELIMIT_RESET") ?? "") ?? 60
            guard seconds <= Self.longestWait, waited < Self.waits else {
                throw .rateLimited(account: nil, retryAt: Date().addingTimeInterval(Double(max(seconds, 1))),
                                   detail: "\(path) answered 429: \(problem.text)")
            }
            waited += 1
            try? await Task.sleep(for: .seconds(max(seconds, 1)))
        }
    }

    private func store(_ json: [String: Any], includesRefresh: Bool) throws(SourceError) -> String {
        guard let value = JSONShape.string(json["access"]) else {
            throw .malformed(account: nil, field: "token.access", detail: "missing")
        }
        let lifetime = (json["access_expires"] as? Int) ?? 86_400
        // Renew a little early so a long sync never sends an expiring token.
        access = (value, Date().addingTimeInterval(Double(lifetime) * 0.9))
        if includesRefresh, let refreshValue = JSONShape.string(json["refresh"]) {
            refresh = (refreshValue, Date().addingTimeInterval(Double((json["refresh_expires"] as? Int) ?? 2_592_000) * 0.95))
        }
        return value
    }
}
