import AsyncHTTPClient
import BankSyncCore
import Foundation
import NIOSSL

/// A bank's Berlin Group NextGenPSD2 XS2A AIS API under one consent.
public struct BerlinGroupConfiguration: Sendable, Equatable {
    /// The bank's API base, e.g. `https://psd2.bank.example/xs2a` (paths below start with `/v1/`).
    public var baseURL: String
    public var consentID: String
    /// PEM files for mutual TLS (eIDAS QWAC), when the bank requires it.
    public var clientCertificatePath: String?
    public var clientKeyPath: String?
    /// A PEM file of the certificate authority that signed the bank's server certificate, for a bank whose API is
    /// served under a private CA (a test environment, a private network); else the system's trust store.
    public var bankCAPath: String?
    /// Whether this bank's `transactionId`s are stable (many banks' are not; then fingerprints are used).
    public var stableTransactionIDs: Bool

    public init(baseURL: String, consentID: String, clientCertificatePath: String? = nil, clientKeyPath: String? = nil,
                bankCAPath: String? = nil, stableTransactionIDs: Bool = false) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.consentID = consentID
        self.clientCertificatePath = clientCertificatePath
        self.clientKeyPath = clientKeyPath
        self.bankCAPath = bankCAPath
        self.stableTransactionIDs = stableTransactionIDs
    }

    /// A customer's stored bank settings (`source_config`: `{"baseURL", "clientCertificate"?, "clientKey"?,
    /// "bankCA"?, "stableTransactionIds"?}`) under `consentID`; nil without a usable `baseURL`. Every path to a bank (sync,
    /// link, consent callback) builds its configuration here, so none drops the client certificate.
    public init?(sourceConfig: String, consentID: String) {
        let json = (try? JSONSerialization.jsonObject(with: Data(sourceConfig.utf8))) as? [String: Any] ?? [:]
        guard let baseURL = json["baseURL"] as? String, baseURL.hasPrefix("http") else { return nil }
        self.init(baseURL: baseURL, consentID: consentID, clientCertificatePath: json["clientCertificate"] as? String,
                  clientKeyPath: json["clientKey"] as? String, bankCAPath: json["bankCA"] as? String, stableTransactionIDs: (json["stableTransactionIds"] as? Bool) ?? false)
    }

    /// Whether this bank needs an HTTP client of its own (a client certificate to present, or its own CA to trust).
    public var needsOwnHTTPClient: Bool { clientCertificatePath != nil || bankCAPath != nil }

    /// The TLS settings an HTTP client for this bank is built with: banks with equal ones can share a client.
    public var httpClientIdentity: String { "\(baseURL)|\(clientCertificatePath ?? "")|\(clientKeyPath ?? "")|\(bankCAPath ?? "")" }

    /// An HTTP client for this bank, presenting the client certificate when one is configured and trusting the
    /// bank's own CA when one is given.
    public func makeHTTPClient(connectTimeout: Int64 = 10) throws(SourceError) -> HTTPClient {
        var settings = SourceHTTPClient.configuration(connectTimeout: connectTimeout, readTimeout: 60)
        guard clientCertificatePath != nil || bankCAPath != nil else {
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificate = clientCertificatePath, let key = clientKeyPath {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw .unauthorised("cannot load the client certificate or key (\(certificate), \(key)): \(error)")
            }
        }
        if let bankCAPath {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(bankCAPath))
            } catch {
                throw .unauthorised("cannot load the bank's CA certificate (\(bankCAPath)): \(error)")
            }
        }
        settings.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }
}

public struct BerlinGroupSource: BankDataSource {
    let configuration: BerlinGroupConfiguration
    let http: SourceHTTP

    public init(configuration: BerlinGroupConfiguration, httpClient: HTTPClient) {
        self.configuration = configuration
        http = SourceHTTP(client: httpClient)
    }

    public var transactionIDsAreStable: Bool { configuration.stableTransactionIDs }

    /// The consent's status (every run: a revoked consent shows there first), its terms only when they are not
    /// stored (a first sync, a renewal: `validUntil` does not change for a consent), and the accounts with balances.
    public func accounts(known: KnownAccounts) async throws(SourceError) -> SourceSnapshot {
        let status = try await get("/v1/consents/\(configuration.consentID)/status", account: nil)
        let consentStatus = JSONShape.string(status["consentStatus"]) ?? "?"
        if ["expired", "revokedByPsu", "terminatedByTpp", "rejected"].contains(consentStatus) {
            throw .consentExpired("consent \(configuration.consentID) is \(consentStatus)")
        }
        guard consentStatus == "valid" else { throw .consentPending("consent \(configuration.consentID) is \(consentStatus)") }
        var validUntil: Date?
        if !known.consentTermsKnown {
            let consent = try await get("/v1/consents/\(configuration.consentID)", account: nil)
            validUntil = JSONShape.string(consent["validUntil"]).flatMap { Day(iso: $0) }
                .map { Date(timeIntervalSince1970: Double($0.adding(days: 1).daysSinceEpoch) * 86_400) }
        }
        let list = try await get("/v1/accounts?withBalance=true", account: nil)
        guard let objects = list["accounts"] as? [[String: Any]] else {
            throw .malformed(account: nil, field: "accounts", detail: "expected an array of account objects")
        }
        var accounts: [SourceAccount] = []
        for (index, object) in objects.enumerated() {
            guard let id = JSONShape.string(object["resourceId"]) else {
                throw .malformed(account: nil, field: "accounts[\(index)].resourceId", detail: "missing")
            }
            var account = BankAccount(sourceAccountID: id, iban: JSONShape.string(object["iban"]), bic: JSONShape.string(object["bic"]),
                                      currency: JSONShape.string(object["currency"]), name: JSONShape.string(object["name"]),
                                      product: JSONShape.string(object["product"]) ?? JSONShape.string(object["cashAccountType"]),
                                      ownerName: JSONShape.string(object["ownerName"]))
            if object["balances"] != nil {
                account.balances = try BerlinGroupMapping.balances(object["balances"], account: id)
            } else {
                account.balances = try BerlinGroupMapping.balances(try await get("/v1/accounts/\(id)/balances", account: id)["balances"], account: id)
            }
            accounts.append(SourceAccount(account: account))
        }
        return SourceSnapshot(accounts: accounts, consentExpiresAt: validUntil, consentTermsRead: !known.consentTermsKnown)
    }

    /// Follows `_links.next` to the end, one page at a time (never the whole history in memory).
    public func transactions(of account: SourceAccount, window: SyncWindow, refused: RefusedRowCollector)
        -> AsyncThrowingStream<[BankTransaction], any Error> {
        let id = account.account.sourceAccountID
        let idFields = configuration.stableTransactionIDs ? ["transactionId"] : []
        let source = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var next: String? = source.configuration.baseURL
                        + "/v1/accounts/\(id)/transactions?bookingStatus=both&dateFrom=\(window.from)&dateTo=\(window.to)"
                    var pages = 0
                    while let path = next {
                        pages += 1
                        guard pages <= 10_000 else { throw SourceError.malformed(account: id, field: "_links.next", detail: "pagination does not end") }
                        let reader = TransactionDocumentReader(account: id, bookedIDFields: idFields, refused: refused)
                        let json = try await source.read(path, account: id, with: reader) { continuation.yield($0) }
                        let container = json["transactions"] as? [String: Any]
                        let links = (container?["_links"] as? [String: Any]) ?? (json["_links"] as? [String: Any])
                        next = try (links?["next"] as? [String: Any]).flatMap { JSONShape.string($0["href"]) }
                            .map { try source.resolve(link: $0, from: path, account: id) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// A `_links` href resolved as a URL reference against the URL of the response that carried it (RFC 3986
    /// §5.2: an absolute path replaces the base path, a relative one resolves against it, a full URL stays as
    /// it is). Only links to the configured bank (scheme, host, port) are followed.
    func resolve(link: String, from current: String, account: String) throws(SourceError) -> String {
        guard let base = URL(string: current), let resolved = URL(string: link, relativeTo: base)?.absoluteURL,
              let bank = URL(string: configuration.baseURL) else {
            throw .malformed(account: account, field: "_links.next.href", detail: "'\(link)' is not a URL reference")
        }
        guard resolved.scheme?.lowercased() == bank.scheme?.lowercased(), resolved.host?.lowercased() == bank.host?.lowercased(),
              resolved.port ?? Self.defaultPort(resolved.scheme) == bank.port ?? Self.defaultPort(bank.scheme) else {
            throw .malformed(account: account, field: "_links.next.href",
                             detail: "'\(link)' leads away from the bank at \(configuration.baseURL); not followed")
        }
        return resolved.absoluteString
    }

    static func defaultPort(_ scheme: String?) -> Int? {
        switch scheme?.lowercased() {
        case "http": 80
        case "https": 443
        default: nil
        }
    }

    func get(_ pathOrURL: String, account: String?) async throws(SourceError) -> [String: Any] {
        let url = pathOrURL.hasPrefix("http") ? pathOrURL : configuration.baseURL + pathOrURL
        let response = try await http.send(.GET, url, headers: [
            ("X-Request-ID", UUID().uuidString.lowercased()), ("Consent-ID", configuration.consentID),
        ])
        guard (200..<300).contains(response.status) else { throw classify(response, account: account) }
        // Messages name the path below the bank's base URL (shorter, and the same wherever the bank is).
        let what = url.hasPrefix(configuration.baseURL) ? String(url.dropFirst(configuration.baseURL.count)) : url
        return try JSONShape.object(response.body, account: account, what: what)
    }

    /// A transactions page read as it streams; returns the page without its transaction arrays (`_links`).
    func read(_ url: String, account: String, with reader: TransactionDocumentReader,
              deliver: ([BankTransaction]) -> Void) async throws(SourceError) -> [String: Any] {
        let what = url.hasPrefix(configuration.baseURL) ? String(url.dropFirst(configuration.baseURL.count)) : url
        let response = try await http.stream(.GET, url, headers: [
            ("X-Request-ID", UUID().uuidString.lowercased()), ("Consent-ID", configuration.consentID),
        ]) { buffer throws(SourceError) in
            try reader.feed(buffer.readableBytesView, what: what, deliver: deliver)
        }
        guard (200..<300).contains(response.status) else { throw classify(response, account: account) }
        return try reader.finish(what: what, deliver: deliver)
    }

    /// Berlin Group errors carry `tppMessages[].code` (CONSENT_EXPIRED, ACCESS_EXCEEDED, …).
    func classify(_ response: SourceHTTP.Response, account: String?) -> SourceError {
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        let messages = (json?["tppMessages"] as? [[String: Any]]) ?? []
        let codes = messages.compactMap { JSONShape.string($0["code"]) }
        let text = messages.compactMap { JSONShape.string($0["text"]) }.joined(separator: "; ")
        let detail = "HTTP \(response.status) \(codes.joined(separator: ",")) \(text)"
        // The consent codes with the statuses the specification gives them: CONSENT_INVALID / CONSENT_EXPIRED with
        // 401, CONSENT_UNKNOWN with 400 (an account call with an unknown Consent-ID) or 403 (the consent's own
        // path). Banks mix these three statuses up, so any of the codes counts with any of them; the same code
        // with another status (a 5xx, a 429) is not the bank's verdict on the consent and parks nobody.
        let consentCodes: Set<String> = ["CONSENT_INVALID", "CONSENT_EXPIRED", "CONSENT_UNKNOWN"]
        if [400, 401, 403].contains(response.status), codes.contains(where: consentCodes.contains) { return .consentExpired(detail) }
        switch response.status {
        case 429:
            let wait = response.header("Retry-After").flatMap(Double.init)
            // ACCESS_EXCEEDED is the consent's daily reads used up (a quota); a short wait asked for is a throttle.
            if !codes.contains("ACCESS_EXCEEDED"), let wait, wait <= 60 { ThrottleSignals.note() }
            let retryAt = wait.map { Date().addingTimeInterval($0) }
            return .rateLimited(account: account, retryAt: retryAt, detail: detail)
        // One account refused or unknown (RESOURCE_BLOCKED, RESOURCE_UNKNOWN): that account's problem this run.
        case 403 where account != nil, 404 where account != nil: return .unavailable("account \(account ?? "?"): \(detail)")
        // Anything else refused is ours — our certificate (CERTIFICATE_EXPIRED/INVALID), signature, token — an
        // ops problem; only the consent codes above make the customer reconnect.
        case 401, 403: return .unauthorised(detail)
        default: return .unavailable(detail)
        }
    }
}
