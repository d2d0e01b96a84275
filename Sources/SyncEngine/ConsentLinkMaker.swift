import Aggregators
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Store

/// What a new bank link is asked for: the customer, the source and the consent's terms, plus the source's
/// settings (a GoCardless institution, a Berlin Group bank's URL and certificates) where they are not stored.
public struct ConsentLinkRequest: Sendable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: Customer.Source
    public var historyDays: Int
    public var accessDays: Int
    public var institution: String?
    public var bankURL: String?
    public var clientCertificate: String?
    public var clientKey: String?
    public var bankCA: String?
    /// The day the access is counted from (`BANKSYNC_TODAY` in tests).
    public var today: Day

    public init(flowpayCustomerID: UUID, merchantID: String, source: Customer.Source, historyDays: Int, accessDays: Int = 90,
                institution: String? = nil, bankURL: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil,
                bankCA: String? = nil, today: Day) {
        self.flowpayCustomerID = flowpayCustomerID
        self.merchantID = merchantID
        self.source = source
        self.historyDays = historyDays
        self.accessDays = accessDays
        self.institution = institution
        self.bankURL = bankURL
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.bankCA = bankCA
        self.today = today
    }

    /// A renewal of a registered customer's consent on its own source and terms: the bank's settings are the
    /// stored ones (`institution` only when the stored consent does not name it).
    public static func renewal(of record: CustomerRecord, institution: String? = nil, today: Day) -> ConsentLinkRequest {
        let stored = (try? JSONSerialization.jsonObject(with: Data(record.sourceConfig.utf8))) as? [String: Any] ?? [:]
        return ConsentLinkRequest(flowpayCustomerID: record.customer.flowpayCustomerID, merchantID: record.customer.merchantID,
                                  source: record.customer.source, historyDays: record.customer.historyDays,
                                  institution: institution ?? stored["institution"] as? String, bankURL: stored["baseURL"] as? String, today: today)
    }
}

/// A link the source created, to record (`Store.createConsentLink`) and hand to the customer.
public struct NewConsentLink: Sendable, Equatable {
    public var request: ConsentLinkSummary
    public var sourceRef: String
    public var sourceConfig: String
    public var state: String
    public var link: String
    /// The `banksync link …` command that asks for the same link.
    public var command: String
}

/// The parts of a request a recorded link keeps.
public struct ConsentLinkSummary: Sendable, Equatable {
    public var flowpayCustomerID: UUID
    public var merchantID: String
    public var source: Customer.Source
    public var historyDays: Int
}

public enum ConsentLinkError: Error, CustomStringConvertible, Equatable {
    /// A setting (CLI option or environment variable) is missing or unusable: `setting` names it.
    case setting(String, String)

    public var setting: String { switch self { case .setting(let name, _): name } }
    public var problem: String { switch self { case .setting(_, let problem): problem } }
    public var description: String { "\(setting): \(problem)" }
}

/// Creates consents at the aggregator or the bank with a redirect back to `serve` (BANKSYNC_PUBLIC_URL), for
/// `banksync link` and the ops console alike. Only talks to the source: the caller records the link (and holds no
/// database transaction while the source is asked).
public struct ConsentLinkMaker: Sendable {
    let goCardless: GoCardlessClient?
    let http: HTTPClient
    let callbackBase: String

    /// `http` must not follow redirects away from the aggregator or the bank (`SourceHTTPClient.configuration`);
    /// `callbackBase`: BANKSYNC_PUBLIC_URL.
    public init(goCardless: GoCardlessClient?, http: HTTPClient, callbackBase: String) {
        self.goCardless = goCardless
        self.http = http
        self.callbackBase = callbackBase.hasSuffix("/") ? String(callbackBase.dropLast()) : callbackBase
    }

    /// Creates the consent at the source; `existing` is the registered customer, whose stored settings a renewal
    /// keeps (a Berlin Group bank's stable ids and certificates; a GoCardless requisition's institution).
    public func create(_ request: ConsentLinkRequest, existing: CustomerRecord?) async throws -> NewConsentLink {
        let summary = ConsentLinkSummary(flowpayCustomerID: request.flowpayCustomerID, merchantID: request.merchantID, source: request.source,
                                         historyDays: request.historyDays)
        let state = Store.newLinkState()
        let customer = request.flowpayCustomerID.uuidString.lowercased()
        switch request.source {
        case .gocardless:
            guard let goCardless else {
                throw ConsentLinkError.setting("GOCARDLESS_SECRET_ID", "GoCardless credentials are needed to create a link")
            }
            var institution = request.institution
            if institution == nil, let existing, existing.customer.source == .gocardless {
                // Linked before the institution was stored with the consent: the stored requisition names it.
                institution = try await goCardless.requisitionInstitution(existing.customer.sourceRef)
            }
            guard let institution, !institution.isEmpty else {
                throw ConsentLinkError.setting("--institution", "GoCardless links need the bank's institution id")
            }
            let requisition = try await goCardless.createRequisition(institutionID: institution, historyDays: request.historyDays,
                                                                     accessDays: request.accessDays,
                                                                     redirect: callbackBase + "/consents/gocardless/callback", reference: state)
            let config = String(decoding: try JSONSerialization.data(withJSONObject: ["institution": institution], options: [.sortedKeys]), as: UTF8.self)
            return NewConsentLink(request: summary, sourceRef: requisition.id, sourceConfig: config, state: state, link: requisition.link,
                                  command: "banksync link --customer \(customer) --source gocardless --institution \(institution) "
                                      + "--history-days \(request.historyDays)")
        case .berlingroup:
            guard let bankURL = request.bankURL, bankURL.hasPrefix("http") else {
                throw ConsentLinkError.setting("--bank-url", "Berlin Group links need the bank's API base URL")
            }
            guard (request.clientCertificate == nil) == (request.clientKey == nil) else {
                throw ConsentLinkError.setting("--client-certificate", "give both --client-certificate and --client-key, or neither")
            }
            let validUntil = request.today.adding(days: request.accessDays).description
            // A renewal keeps the customer's bank settings (stable ids, client certificate and key): only the URL is new.
            var settings: [String: Any] = [:]
            if let existing, existing.customer.source == .berlingroup,
               let stored = try? JSONSerialization.jsonObject(with: Data(existing.sourceConfig.utf8)) as? [String: Any] {
                settings = stored
            }
            settings["baseURL"] = bankURL
            if let certificate = request.clientCertificate, let key = request.clientKey {
                settings["clientCertificate"] = certificate
                settings["clientKey"] = key
            }
            if let bankCA = request.bankCA { settings["bankCA"] = bankCA }
            let config = String(decoding: try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys]), as: UTF8.self)
            // The consent is asked for as the bank will be read: with the client certificate when it requires one.
            guard let bank = BerlinGroupConfiguration(sourceConfig: config, consentID: "") else {
                throw ConsentLinkError.setting("--bank-url", "'\(bankURL)' is not a usable bank API base URL")
            }
            let redirect = callbackBase + "/consents/berlingroup/callback?state=" + state
            let consent: (id: String, link: String)
            if bank.needsOwnHTTPClient {
                let bankHTTP = try bank.makeHTTPClient()
                do {
                    consent = try await BerlinGroupSource.createConsent(baseURL: bank.baseURL, http: bankHTTP, validUntil: validUntil, redirect: redirect)
                    try? await bankHTTP.shutdown()
                } catch {
                    try? await bankHTTP.shutdown()
                    throw error
                }
            } else {
                consent = try await BerlinGroupSource.createConsent(baseURL: bank.baseURL, http: http, validUntil: validUntil, redirect: redirect)
            }
            return NewConsentLink(request: summary, sourceRef: consent.id, sourceConfig: config, state: state, link: consent.link,
                                  command: "banksync link --customer \(customer) --source berlingroup --bank-url \(bankURL) "
                                      + "--history-days \(request.historyDays)")
        case .fio:
            throw ConsentLinkError.setting("--source", "fio is linked without a bank link (see banksync link --help)")
        }
    }
}

extension Store {
    /// Records a link the source created; every other open link of the customer stops working (its callback
    /// answers "expired"), so only the newest link can change the customer's consent. Returns how many died.
    @discardableResult
    public func record(_ link: NewConsentLink) async throws -> Int {
        try await connection.withTransaction {
            let superseded = try supersedeConsentLinks(flowpayCustomerID: link.request.flowpayCustomerID)
            try createConsentLink(flowpayCustomerID: link.request.flowpayCustomerID, merchantID: link.request.merchantID, source: link.request.source,
                                  sourceRef: link.sourceRef, sourceConfig: link.sourceConfig, historyDays: link.request.historyDays, state: link.state,
                                  link: link.link)
            return superseded
        }
    }
}
