import Aggregators
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Store

/// Answers the customer's redirect back from the bank. It never trusts the query: it looks the one-time
/// state up, asks the aggregator for the consent's real status, and only then stores the customer, its
/// accounts and the consent's expiry. Unknown, expired, reused or unfinished links get a clear page. Anyone can
/// send a callback, so a failure writes nothing per request: one without a known state is counted in memory
/// (`banksync_consent_callbacks_refused{reason}` and a throttled log line); a real link that expired or was not
/// completed records one event the first time, not on every retry.
public struct ConsentCallbacks: Sendable {
    let pool: ConnectionPool
    let goCardless: GoCardlessClient?
    let http: HTTPClient
    let logger: Logger
    let refusalLog = ThrottledLog()

    public init(pool: ConnectionPool, goCardless: GoCardlessClient?, http: HTTPClient, logger: Logger) {
        self.pool = pool
        self.goCardless = goCardless
        self.http = http
        self.logger = logger
    }

    func register(on router: Router<PullAPIContext>) {
        router.get("/consents/gocardless/callback") { request, _ in
            await callback(state: request.uri.queryParameters.get("ref"), expected: .gocardless)
        }
        router.get("/consents/berlingroup/callback") { request, _ in
            await callback(state: request.uri.queryParameters.get("state"), expected: .berlingroup)
        }
    }

    func callback(state: String?, expected: Customer.Source) async -> Response {
        do {
            guard let state, !state.isEmpty, state.count <= 128 else {
                refuse("malformed", "a bank redirect arrived without a usable state value")
                return page(.badRequest, "This link is not valid", "The link is incomplete. Please use the link you were sent.")
            }
            guard let link = try await pool.withStore({ try $0.consentLink(state: state) }), link.source == expected else {
                refuse("unknown_state", "a bank redirect arrived with an unknown state value")
                return page(.notFound, "This link is not valid", "The link is unknown. Please use the latest link you were sent.")
            }
            if link.used {
                refuse("used", "a bank redirect arrived for a link already used")
                return page(.conflict, "Already connected", "This link has already been used.")
            }
            if link.expired {
                try await recordOnce(link, outcome: "expired", "consent_link_expired", "the bank link expired before it was completed")
                return page(.gone, "This link has expired", "Please ask for a new link.")
            }
            let (status, read) = try await readConsent(link)
            guard let snapshot = read else {
                try await recordOnce(link, outcome: "not completed: \(status)", "consent_link_not_completed", "the bank reports the consent as \(status)")
                return page(.ok, "Not connected", "The bank did not confirm access (status \(status)). You can try the link again.")
            }
            let logger = logger
            // The link is consumed and the customer activated in one transaction: an activation that fails
            // leaves the link usable (never "already connected" with nothing connected).
            try await pool.withStore { store in try await store.connection.withTransaction {
                guard try store.useConsentLink(id: link.id, outcome: "linked") else { return }
                let customerID = try store.activateCustomer(from: link)
                for account in snapshot.accounts { try await store.upsertAccount(customerID: customerID, account.account, inTransaction: true) }
                let requested = link.historyDays
                try store.updateConsent(customerID: customerID, expiresAt: snapshot.consentExpiresAt,
                                        historyCap: snapshot.maxHistoryDays.flatMap { $0 < requested ? $0 : nil })
                try store.recordEvent(customerID: customerID, runID: nil, level: .info, code: "consent_linked",
                                      message: "\(snapshot.accounts.count) account(s) linked via \(link.source.rawValue)")
                logger.info("consent linked", metadata: ["customer": "\(link.flowpayCustomerID)", "accounts": "\(snapshot.accounts.count)"])
            } }
            return page(.ok, "Your bank is connected", "Thank you. You can close this page.")
        } catch {
            logger.error("consent callback failed", metadata: ["error": "\(error)"])
            return page(.serviceUnavailable, "Please try again", "We could not confirm the connection with your bank right now.")
        }
    }

    /// The consent's real status at the source and, when it is linked, the accounts it reaches.
    func readConsent(_ link: ConsentLink) async throws -> (status: String, snapshot: SourceSnapshot?) {
        switch link.source {
        case .gocardless:
            guard let goCardless else { throw SourceFactoryMissing() }
            let status = try await goCardless.requisitionStatus(link.sourceRef)
            guard status == "LN" else { return (status, nil) }
            return (status, try await GoCardlessSource(client: goCardless, requisitionID: link.sourceRef).accounts())
        case .berlingroup:
            return try await withBerlinGroup(link) { source in
                let status = try await source.consentStatus()
                guard status == "valid" else { return (status, nil) }
                return (status, try await source.accounts())
            }
        case .fio:
            // A Fio token is registered, not linked through a redirect: no consent link names this source.
            throw SourceFactoryMissing()
        }
    }

    /// The bank as the customer's stored settings describe it: base URL, and the client certificate and key when
    /// the bank requires mutual TLS (a bank that does refuses a callback made without them).
    static func berlinGroupConfiguration(_ link: ConsentLink) throws -> BerlinGroupConfiguration {
        guard let configuration = BerlinGroupConfiguration(sourceConfig: link.sourceConfig, consentID: link.sourceRef) else {
            throw SourceFactoryMissing()
        }
        return configuration
    }

    /// `body` with the link's bank; a bank that needs our client certificate gets an HTTP client of its own that
    /// presents it, shut down afterwards.
    func withBerlinGroup<T: Sendable>(_ link: ConsentLink, _ body: (BerlinGroupSource) async throws -> T) async throws -> T {
        let configuration = try Self.berlinGroupConfiguration(link)
        guard configuration.needsOwnHTTPClient else {
            return try await body(BerlinGroupSource(configuration: configuration, httpClient: http))
        }
        let client = try configuration.makeHTTPClient()
        do {
            let result = try await body(BerlinGroupSource(configuration: configuration, httpClient: client))
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// A callback that names no link of ours: counted and logged (at most a line a minute per reason), never stored.
    func refuse(_ reason: String, _ detail: String) {
        Counter(label: "banksync_consent_callbacks_refused", dimensions: [("reason", reason)]).increment()
        guard let suppressed = refusalLog.admit(reason) else { return }
        logger.warning("consent callback refused", metadata: ["reason": "\(detail)", "refused_since_last_line": "\(suppressed)"])
    }

    /// Notes the link's outcome and records an event for ops, once per outcome: retrying the same link (or a
    /// script replaying it) changes nothing more.
    func recordOnce(_ link: ConsentLink, outcome: String, _ code: String, _ message: String) async throws {
        let flowpayID = link.flowpayCustomerID
        try await pool.withStore { store in
            guard try store.noteConsentLink(id: link.id, outcome: outcome) else { return }
            let customerID = try store.customer(flowpayCustomerID: flowpayID)?.customer.id
            try store.recordEvent(customerID: customerID, runID: nil, level: .warning, code: code,
                                  message: message + " (customer \(flowpayID.uuidString.lowercased()))")
        }
    }

    func page(_ status: HTTPResponse.Status, _ title: String, _ text: String) -> Response {
        // Texts can carry what a bank or aggregator said (a consent status): escaped, never markup.
        let title = Self.escapeHTML(title)
        let text = Self.escapeHTML(text)
        let html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head><body><h1>\(title)</h1><p>\(text)</p></body></html>"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

extension ConsentCallbacks {
    static func escapeHTML(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

struct SourceFactoryMissing: Error, CustomStringConvertible {
    var description: String { "the aggregator for this link is not configured on this server" }
}
