import AsyncHTTPClient
import BankSyncCore
import Foundation

/// The redirect/callback pattern of both aggregators: create the consent with a redirect back to BankSync,
/// hand the customer the bank's link, and later read the consent's real status.
extension GoCardlessClient {
    /// Creates the end-user agreement (history and access days) and a requisition redirecting to `redirect`;
    /// GoCardless appends `?ref=<reference>` to it. Returns the requisition id and the bank link.
    public func createRequisition(institutionID: String, historyDays: Int, accessDays: Int, redirect: String,
                                  reference: String) async throws(SourceError) -> (id: String, link: String) {
        let agreement = try await call(.POST, "/api/v2/agreements/enduser/", body: [
            "institution_id": institutionID, "max_historical_days": historyDays, "access_valid_for_days": accessDays,
            "access_scope": ["balances", "details", "transactions"],
        ])
        guard let agreementID = JSONShape.string(agreement["id"]) else {
            throw .malformed(account: nil, field: "agreement.id", detail: "missing")
        }
        let requisition = try await call(.POST, "/api/v2/requisitions/", body: [
            "redirect": redirect, "institution_id": institutionID, "reference": reference, "agreement": agreementID, "user_language": "EN",
        ])
        guard let id = JSONShape.string(requisition["id"]), let link = JSONShape.string(requisition["link"]) else {
            throw .malformed(account: nil, field: "requisition", detail: "id and link are required")
        }
        return (id, link)
    }

    /// The institution a requisition was made for (a renewal asks the same bank).
    public func requisitionInstitution(_ id: String) async throws(SourceError) -> String? {
        JSONShape.string(try await call(.GET, "/api/v2/requisitions/\(id)/")["institution_id"])
    }

    /// The requisition's status as GoCardless has it (CR, LN, RJ, EX, …).
    public func requisitionStatus(_ id: String) async throws(SourceError) -> String {
        JSONShape.string(try await call(.GET, "/api/v2/requisitions/\(id)/")["status"]) ?? "?"
    }
}

extension BerlinGroupSource {
    /// `POST /v1/consents` for all accounts, recurring, with the redirect back to BankSync; returns the
    /// consent id and the bank's SCA redirect link.
    public static func createConsent(baseURL: String, http: HTTPClient, validUntil: String, redirect: String) async throws(SourceError)
        -> (id: String, link: String) {
        let body: [String: Any] = ["access": ["allPsd2": "allAccounts"], "recurringIndicator": true, "validUntil": validUntil,
                                   "frequencyPerDay": ReadBudget.berlinGroupReadsPerDay, "combinedServiceIndicator": false]
        let bytes = (try? JSONSerialization.data(withJSONObject: body)).map { Array($0) }
        let response = try await SourceHTTP(client: http).send(.POST, baseURL + "/v1/consents", headers: [
            ("X-Request-ID", UUID().uuidString.lowercased()), ("TPP-Redirect-URI", redirect), ("TPP-Redirect-Preferred", "true"),
        ], body: bytes)
        guard (200..<300).contains(response.status) else { throw .unavailable("POST /v1/consents answered HTTP \(response.status)") }
        let json = try JSONShape.object(response.body, account: nil, what: "consent")
        guard let id = JSONShape.string(json["consentId"]),
              let link = ((json["_links"] as? [String: Any])?["scaRedirect"] as? [String: Any]).flatMap({ JSONShape.string($0["href"]) }) else {
            throw .malformed(account: nil, field: "consent", detail: "consentId and _links.scaRedirect are required")
        }
        return (id, link)
    }

    /// The consent's status as the bank has it (valid, received, rejected, expired, …).
    public func consentStatus() async throws(SourceError) -> String {
        JSONShape.string(try await get("/v1/consents/\(configuration.consentID)/status", account: nil)["consentStatus"]) ?? "?"
    }
}
