import BankSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A bank's Berlin Group NextGenPSD2 AIS API (v1) over synthetic accounts: consents with status and
/// validity, accounts with balances, transactions paged through `_links.next`, `tppMessages` errors.
public actor BerlinGroupSandboxState {
    struct Consent {
        var status: String
        let validUntil: Day
        let accounts: [String]
    }

    var consents: [String: Consent] = [:]
    var banks: [String: SyntheticBank] = [:]
    /// IBANs of accounts that mirror another consent's or source's accounts; others derive theirs from the id.
    var ibans: [String: String] = [:]
    var today: Day?
    var throttled = 0
    /// Account calls left that answer 503 SERVICE_UNAVAILABLE (a bank briefly down).
    var unavailable = 0
    var certificateExpired = false
    /// Reads of an account's transactions a consent allows per day (its `frequencyPerDay`); nil: no limit.
    var dailyReadLimit: Int?
    var readsToday: [String: Int] = [:]
    var malformedAccounts: Set<String> = []
    /// Synthetic customers generated on demand (`sandbox --fleet`): consents `fleet-consent-<n>`.
    var fleet: SandboxFleet?
    public let pageSize: Int

    /// Serves `fleet`'s Berlin Group customers, each account readable 4 times a day (`frequencyPerDay`).
    public func enableFleet(_ fleet: SandboxFleet) {
        self.fleet = fleet
        dailyReadLimit = 4
    }

    func bank(of resource: String) -> SyntheticBank? {
        if let bank = banks[resource] { return bank }
        guard let fleet, let (customer, account) = fleet.account(resource, berlinGroup: true) else { return nil }
        return fleet.bank(customer: customer, account: account, currency: "EUR")
    }

    /// `today` fixes the bank's calendar (tests, replays); nil follows the real UTC date.
    public init(pageSize: Int = 100, today: Day? = nil) {
        self.pageSize = pageSize
        self.today = today
    }

    var currentDay: Day { today ?? todayUTC() }

    /// Transaction reads asked for today (refused ones included), over every account: what a client spent.
    public func transactionReadsToday() -> Int {
        readsToday.filter { $0.key.hasSuffix("/\(currentDay)") }.values.reduce(0, +)
    }

    /// Moves the bank's calendar (nil: back to the real UTC date).
    public func setToday(_ day: Day?) { today = day }

    /// Moves the calendar one day on (a fleet run's next day); returns the new day.
    @discardableResult
    public func advanceDay() -> Day {
        let next = currentDay.adding(days: 1)
        today = next
        return next
    }

    /// A valid consent over `accountCount` synthetic accounts; returns their resource ids. `renewing` an
    /// earlier consent, it covers that consent's accounts (IBANs, bookings) under new resource and transaction ids.
    @discardableResult
    public func makeValidConsent(id: String, accountCount: Int, stableIDs: Bool = true, renewing: String? = nil) -> [String] {
        let ids: [String]
        if let renewing, let earlier = consents[renewing]?.accounts, !earlier.isEmpty {
            ids = renewAccounts(earlier, consent: id)
        } else {
            ids = (0..<accountCount).map { uuidLike(stableHash("bg:" + id + "#\($0)")) }
            for resource in ids { banks[resource] = SyntheticBank(seed: stableHash(resource), currency: "EUR", withIDs: stableIDs) }
        }
        consents[id] = Consent(status: "valid", validUntil: currentDay.adding(days: 180), accounts: ids)
        return ids
    }

    /// A valid consent over accounts another source serves (a customer moving to this bank's API): the same
    /// IBANs and bookings, this bank's own resource and transaction ids.
    @discardableResult
    public func makeValidConsent(id: String, mirroring accounts: [(iban: String, bank: SyntheticBank)], stableIDs: Bool,
                                 dialect: SyntheticBank.Dialect = .aggregator) -> [String] {
        let ids = accounts.enumerated().map { index, account in
            let resource = uuidLike(stableHash("bg:" + id + "#\(index)"))
            banks[resource] = SyntheticBank(seed: account.bank.seed, currency: account.bank.currency, withIDs: stableIDs,
                                            idSalt: stableHash("bg-ids:" + id))
            banks[resource]?.dialect = dialect
            ibans[resource] = account.iban
            return resource
        }
        consents[id] = Consent(status: "valid", validUntil: currentDay.adding(days: 180), accounts: ids)
        return ids
    }

    func renewAccounts(_ earlier: [String], consent id: String) -> [String] {
        earlier.enumerated().map { index, old in
            let resource = uuidLike(stableHash("bg:" + id + "#\(index)"))
            let bank = banks[old] ?? SyntheticBank(seed: stableHash(old), currency: "EUR")
            banks[resource] = SyntheticBank(seed: bank.seed, currency: bank.currency, withIDs: bank.withIDs, idSalt: stableHash("renewal:" + id))
            ibans[resource] = iban(of: old)
            return resource
        }
    }

    func iban(of resource: String) -> String {
        if ibans[resource] == nil, let fleet, let (customer, account) = fleet.account(resource, berlinGroup: true) {
            return fleet.iban(customer: customer, account: account, country: "DE")
        }
        return ibans[resource] ?? "DE89" + String(format: "%018llu", stableHash(resource) % 1_000_000_000_000_000_000)
    }

    public func seedDemo() {
        makeValidConsent(id: "sandbox-consent-1", accountCount: 2)
        makeValidConsent(id: "sandbox-consent-psd2", accountCount: 1)
    }

    func createConsent(validUntil: String?) -> (id: String, validUntil: String) {
        let id = UUID().uuidString.lowercased()
        let until = validUntil.flatMap { Day(iso: $0) } ?? currentDay.adding(days: 90)
        consents[id] = Consent(status: "received", validUntil: until, accounts: [])
        return (id, until.description)
    }

    /// The user's SCA at the bank; `renewing` names their earlier consent (the same accounts come back under
    /// new ids).
    func authorise(_ id: String, approve: Bool, renewing: String? = nil) -> Bool {
        guard let consent = consents[id] else { return false }
        if approve {
            let ids: [String]
            if let renewing, let earlier = consents[renewing]?.accounts, !earlier.isEmpty {
                ids = renewAccounts(earlier, consent: id)
            } else {
                ids = (0..<2).map { uuidLike(stableHash("bg:" + id + "#\($0)")) }
                for resource in ids { banks[resource] = SyntheticBank(seed: stableHash(resource), currency: "EUR") }
            }
            consents[id] = Consent(status: "valid", validUntil: consent.validUntil, accounts: ids)
        } else {
            consents[id]?.status = "rejected"
        }
        return true
    }

    func consent(_ id: String) -> (status: String, validUntil: String, accounts: [String])? {
        guard var consent = consents[id] ?? fleetConsent(id) else { return nil }
        if consent.status == "valid", consent.validUntil < currentDay { consent.status = "expired"; consents[id] = consent }
        return (consent.status, consent.validUntil.description, consent.accounts)
    }

    func fleetConsent(_ id: String) -> Consent? {
        guard let fleet, let customer = fleet.customer(reference: id, source: "berlingroup") else { return nil }
        return Consent(status: "valid", validUntil: currentDay.adding(days: 90 - customer.index % 60), accounts: fleet.accountIDs(of: customer))
    }

    enum Outcome: Sendable {
        case json(Int, [UInt8])
    }

    /// Checks the Consent-ID for an account call; nil when it may proceed.
    func refusal(consentID: String?, account: String?) -> Outcome? {
        if certificateExpired {
            return .json(401, tppMessage("CERTIFICATE_EXPIRED", "The TPP certificate has expired."))
        }
        if unavailable > 0 {
            unavailable -= 1
            return .json(503, tppMessage("SERVICE_UNAVAILABLE", "The ASPSP server is currently unavailable."))
        }
        if throttled > 0 {
            throttled -= 1
            return .json(429, tppMessage("ACCESS_EXCEEDED", "The access on the account has been exceeded."))
        }
        guard let consentID, let consent = self.consent(consentID) else {
            return .json(400, tppMessage("CONSENT_UNKNOWN", "The Consent-ID cannot be matched."))
        }
        guard consent.status == "valid" else {
            return .json(401, tppMessage(consent.status == "expired" ? "CONSENT_EXPIRED" : "CONSENT_INVALID", "The consent is \(consent.status)."))
        }
        if let account, !consent.accounts.contains(account) {
            return .json(404, tppMessage("RESOURCE_UNKNOWN", "The account is not covered by this consent."))
        }
        return nil
    }

    func accounts(consentID: String?) -> Outcome {
        if let refused = refusal(consentID: consentID, account: nil) { return refused }
        let consent = self.consent(consentID!)!
        let list: [[String: Any]] = consent.accounts.map { id in
            ["resourceId": id, "iban": iban(of: id), "currency": bank(of: id)?.currency ?? "EUR",
             "name": "Geschäftskonto", "product": "Business Account", "cashAccountType": "CACC", "bic": "SBXBDEFFXXX",
             "ownerName": "ACME GmbH", "balances": balances(id)]
        }
        return .json(200, jsonBytes(["accounts": list]))
    }

    /// The bank's booked balances of its last closed day and what is available today, in the account's currency:
    /// they agree with the bookings it lists (SyntheticBank).
    func balances(_ id: String) -> [[String: Any]] {
        bank(of: id)?.balancesJSON(today: currentDay) ?? []
    }

    func balances(consentID: String?, account: String) -> Outcome {
        if let refused = refusal(consentID: consentID, account: account) { return refused }
        return .json(200, jsonBytes(["account": ["iban": account], "balances": balances(account)]))
    }

    func transactions(consentID: String?, account: String, dateFrom: String?, dateTo: String?, page: Int, path: String) -> Outcome {
        if let refused = refusal(consentID: consentID, account: account) { return refused }
        guard let bank = bank(of: account), let from = dateFrom.flatMap({ Day(iso: $0) }) else {
            return .json(400, tppMessage("FORMAT_ERROR", "dateFrom is required (YYYY-MM-DD)."))
        }
        if let limit = dailyReadLimit, page == 0 {
            let key = "\(account)/\(currentDay)"
            readsToday[key, default: 0] += 1
            if readsToday[key, default: 0] > limit {
                return .json(429, tppMessage("ACCESS_EXCEEDED", "The access on the account has been exceeded (frequencyPerDay \(limit))."))
            }
        }
        if malformedAccounts.contains(account), page >= 1 {
            return .json(200, Array(#"{"transactions":{"booked":[{"bookingDate":"not a date"#.utf8))
        }
        let to = min(dateTo.flatMap { Day(iso: $0) } ?? currentDay, currentDay)
        let visible = bank.visible(today: currentDay, from: from, to: to)
        let all = visible.booked.map { ($0, false) } + visible.pending.map { ($0, true) }
        let start = page * pageSize
        let slice = start < all.count ? Array(all[start..<min(start + pageSize, all.count)]) : []
        var container: [String: Any] = [
            "booked": slice.filter { !$0.1 }.map { bank.json($0.0, pending: false) },
            "pending": slice.filter { $0.1 }.map { bank.json($0.0, pending: true) },
        ]
        if start + pageSize < all.count {
            container["_links"] = ["next": ["href": "\(path)?bookingStatus=both&dateFrom=\(from)&dateTo=\(to)&page=\(page + 1)"]]
        }
        return .json(200, jsonBytes(["account": ["iban": account], "transactions": container]))
    }

    func tppMessage(_ code: String, _ text: String) -> [UInt8] {
        jsonBytes(["tppMessages": [["category": "ERROR", "code": code, "text": text]]])
    }

    public struct Control: Codable, Sendable {
        public var today: String?
        public var expireConsent: String?
        /// Reads of each account's transactions allowed per day (the consent's frequencyPerDay); the next is a 429.
        public var dailyReadLimit: Int?
        /// The consent is valid again (the customer reconnected it at the bank).
        public var validateConsent: String?
        /// Every call is refused with 401 CERTIFICATE_EXPIRED: the TPP's own certificate ran out (or back, false).
        public var certificateExpired: Bool?
        public var revokeConsent: String?
        public var throttle: Int?
        /// The next this many account calls answer 503 SERVICE_UNAVAILABLE.
        public var unavailable: Int?
        public var malformedAccount: String?
        public var createConsent: String?
        public var accounts: Int?
    }

    public func apply(_ control: Control) -> [UInt8] {
        if let text = control.today { today = Day(iso: text) }
        if let id = control.expireConsent { consents[id]?.status = "expired" }
        if let id = control.validateConsent { consents[id]?.status = "valid" }
        if let limit = control.dailyReadLimit { dailyReadLimit = limit }
        if let expired = control.certificateExpired { certificateExpired = expired }
        if let id = control.revokeConsent { consents[id]?.status = "revokedByPsu" }
        if let count = control.throttle { throttled = count }
        if let count = control.unavailable { unavailable = count }
        if let id = control.malformedAccount { malformedAccounts.insert(id) }
        var answer: [String: Any] = ["ok": true]
        if let id = control.createConsent { answer["accounts"] = makeValidConsent(id: id, accountCount: control.accounts ?? 1) }
        return jsonBytes(answer)
    }
}

public enum BerlinGroupSandbox {
    /// `basePath`: where the bank serves its API (`/psd2` in the specification's examples); links it hands out
    /// are absolute paths under it, as the specification's examples are.
    public static func router(state: BerlinGroupSandboxState, publicURL: @escaping @Sendable () -> String,
                              basePath: String = "") -> Router<SandboxContext> {
        let router = Router(context: SandboxContext.self)
        let routes = router.group(RouterPath(basePath))
        routes.post("/v1/consents") { request, _ -> Response in
            if let missing = requireRequestID(request) { return missing }
            var request = request
            let body = (try? JSONSerialization.jsonObject(with: Data((try await request.collectBody(upTo: 1 << 20)).readableBytesView))) as? [String: Any]
            let created = await state.createConsent(validUntil: body?["validUntil"] as? String)
            return reply(201, jsonBytes(["consentId": created.id, "consentStatus": "received",
                                         "_links": ["scaRedirect": ["href": "\(publicURL())/sandbox-sca/\(created.id)"]]]))
        }
        routes.get("/v1/consents/{id}/status") { request, context -> Response in
            if let missing = requireRequestID(request) { return missing }
            if await state.certificateExpired { return reply(401, await state.tppMessage("CERTIFICATE_EXPIRED", "The TPP certificate has expired.")) }
            guard let consent = await state.consent(context.parameters.get("id") ?? "") else {
                return reply(403, await state.tppMessage("CONSENT_UNKNOWN", "Unknown consent."))
            }
            return reply(200, jsonBytes(["consentStatus": consent.status]))
        }
        routes.get("/v1/consents/{id}") { request, context -> Response in
            if let missing = requireRequestID(request) { return missing }
            guard let consent = await state.consent(context.parameters.get("id") ?? "") else {
                return reply(403, await state.tppMessage("CONSENT_UNKNOWN", "Unknown consent."))
            }
            return reply(200, jsonBytes(["consentStatus": consent.status, "validUntil": consent.validUntil, "recurringIndicator": true,
                                         "frequencyPerDay": 4, "access": ["allPsd2": "allAccounts"]]))
        }
        routes.get("/sandbox-sca/{id}") { request, context -> Response in
            let approve = request.uri.queryParameters.get("approve") != "false"
            guard await state.authorise(context.parameters.get("id") ?? "", approve: approve,
                                        renewing: request.uri.queryParameters.get("renewing").map { String($0) }) else { return reply(404, []) }
            let back = request.uri.queryParameters.get("redirect") ?? "/"
            return Response(status: .found, headers: [.location: back])
        }
        routes.get("/v1/accounts") { request, _ -> Response in
            if let missing = requireRequestID(request) { return missing }
            return outcome(await state.accounts(consentID: consentID(request)))
        }
        routes.get("/v1/accounts/{id}/balances") { request, context -> Response in
            if let missing = requireRequestID(request) { return missing }
            return outcome(await state.balances(consentID: consentID(request), account: context.parameters.get("id") ?? ""))
        }
        routes.get("/v1/accounts/{id}/transactions") { request, context -> Response in
            if let missing = requireRequestID(request) { return missing }
            let query = request.uri.queryParameters
            return outcome(await state.transactions(consentID: consentID(request), account: context.parameters.get("id") ?? "",
                                                    dateFrom: query.get("dateFrom"), dateTo: query.get("dateTo"),
                                                    page: Int(query.get("page") ?? "0") ?? 0, path: request.uri.path))
        }
        routes.post("/_sandbox/berlingroup/control") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let control = try? JSONDecoder().decode(BerlinGroupSandboxState.Control.self, from: Data(body.readableBytesView)) else {
                return reply(400, jsonBytes(["message": "expected a control object"]))
            }
            return reply(200, await state.apply(control))
        }
        return router
    }

    static func consentID(_ request: Request) -> String? { request.headers[HTTPField.Name("Consent-ID")!] }

    static func requireRequestID(_ request: Request) -> Response? {
        guard let value = request.headers[HTTPField.Name("X-Request-ID")!], UUID(uuidString: value) != nil else {
            return reply(400, jsonBytes(["tppMessages": [["category": "ERROR", "code": "FORMAT_ERROR", "text": "X-Request-ID (a UUID) is required."]]]))
        }
        return nil
    }

    static func outcome(_ outcome: BerlinGroupSandboxState.Outcome) -> Response {
        switch outcome {
        case .json(let status, let bytes): reply(status, bytes)
        }
    }

    static func reply(_ status: Int, _ bytes: [UInt8]) -> Response {
        Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
