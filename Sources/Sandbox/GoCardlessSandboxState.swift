import BankSyncCore
import Foundation

/// The GoCardless sandbox's world: credentials and tokens, institutions, agreements, requisitions,
/// synthetic accounts, per-account daily budgets, and the faults tests switch on.
public actor GoCardlessSandboxState {
    struct Institution {
        let id: String
        let name: String
        let bic: String
        let totalDays: Int
        let withIDs: Bool
    }

    struct Agreement {
        let id: String
        let institution: String
        let maxHistoricalDays: Int
        let accessValidForDays: Int
        let created: Date
    }

    struct Requisition {
        let id: String
        var status: String
        let institution: String
        let agreement: String?
        var accounts: [String]
        let redirect: String
        let reference: String
    }

    struct Account {
        let id: String
        let iban: String
        let institution: String
        let bank: SyntheticBank
        var status = "READY"
    }

    static let institutions: [Institution] = [
        Institution(id: "SANDBOXFINANCE_SFIN0000", name: "Sandbox Finance", bic: "SFINCZPPXXX", totalDays: 730, withIDs: true),
        Institution(id: "NOIDBANK_NOIDCZPP", name: "No-ID Bank (no transaction ids)", bic: "NOIDCZPP", totalDays: 540, withIDs: false),
        Institution(id: "SHORTBANK_SHRTCZPP", name: "Short Bank (90 days of history)", bic: "SHRTCZPP", totalDays: 90, withIDs: true),
    ]

    let secretID: String
    let secretKey: String
    var accessLifetime = 86_400
    var today: Day?
    var accessTokens: [String: Date] = [:]
    var refreshTokens: [String: Date] = [:]
    var agreements: [String: Agreement] = [:]
    var requisitions: [String: Requisition] = [:]
    var accounts: [String: Account] = [:]
    /// Calls left today per "account/scope"; absent means the default daily budget.
    var budgets: [String: Int] = [:]
    var dailyBudget = 1_000
    var malformedAccounts: Set<String> = []
    /// Every account call answers this much later (a slow bank).
    var responseDelayMilliseconds: Int?
    /// Bookings that reached the bank late: booked on these days, visible only since the control set them.
    var lateBookings: [String: [Day]] = [:]
    /// Accounts whose transaction lists carry rows no mapping can read, and one with a U+0000 in its text.
    var poisonedAccounts: Set<String> = []
    /// Days on which the bank has corrected a booked transaction's text, per account.
    var editedDays: [String: Set<Day>] = [:]
    var apiRateLimited = 0
    var accountCallsNow: [String: Int] = [:]
    var mostAccountCallsAtOnce: [String: Int] = [:]
    /// Every this-many-th account call answers the per-minute 429 (0: never), and the calls counted towards it.
    var apiRateLimitedEvery = 0
    var accountCallsSinceRateLimit = 0
    var throttledAccounts: Set<String> = []
    /// Error answers armed per "account/scope" (`GoCardlessSandboxFaults.swift`).
    var faults: [String: GoCardlessFault] = [:]
    /// Faults in an account's books (`SandboxLedgerFaults.swift`).
    var ledgerFaults: [String: SandboxLedgerFault] = [:]
    /// token/new calls left that answer 429 with `Retry-After: 1`.
    var tokenRateLimited = 0
    /// Synthetic customers generated on demand (`sandbox --fleet`); budgets then reset each day, as GoCardless's do.
    var fleet: SandboxFleet?
    var budgetsDay: Day?
    /// Every API call answers this much later (the aggregator's own latency, `sandbox --latency`).
    var latencyMilliseconds = 0
    /// Calls to the rate-limited account endpoints (details, balances, transactions), per day: what a client spent.
    public private(set) var rateLimitedCalls: [Day: Int] = [:]
    public private(set) var tokenRequests = 0
    public private(set) var refreshRequests = 0

    /// `today` fixes the bank's calendar (tests, replays); nil follows the real UTC date.
    public init(secretID: String, secretKey: String, today: Day? = nil) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.today = today
    }

    /// The linked requisitions the demo registers customers with: one per synthetic bank.
    public func seedDemo() {
        makeLinkedRequisition(id: "sandbox-req-1", institution: "SANDBOXFINANCE_SFIN0000", accountCount: 2)
        makeLinkedRequisition(id: "sandbox-req-2", institution: "NOIDBANK_NOIDCZPP", accountCount: 1)
        makeLinkedRequisition(id: "sandbox-req-3", institution: "SHORTBANK_SHRTCZPP", accountCount: 1)
        // Every field shape the mapping reads (`SyntheticBank.Dialect.everyField`): the 0008-era upgrade fixture.
        makeLinkedRequisition(id: "sandbox-req-fields-1", institution: "SANDBOXFINANCE_SFIN0000", accountCount: 1, dialect: .everyField)
        makeLinkedRequisition(id: "sandbox-req-fields-2", institution: "NOIDBANK_NOIDCZPP", accountCount: 1, dialect: .everyField)
    }

    var currentDay: Day { today ?? todayUTC() }

    /// Serves `fleet`'s GoCardless customers (requisitions `fleet-req-<n>`) with GoCardless's real daily budget
    /// of 4 calls per account and scope, and `latency` on every call.
    public func enableFleet(_ fleet: SandboxFleet, latencyMilliseconds: Int) {
        self.fleet = fleet
        self.latencyMilliseconds = latencyMilliseconds
        dailyBudget = 4
    }

    /// Every API call but token requests (what a client's round trips to the aggregator cost).
    public private(set) var apiCalls = 0
    /// Calls refused because the account's daily budget was used up, per account: a client that keeps asking
    /// hammers the bank.
    public private(set) var overBudgetRefusals: [String: Int] = [:]

    func noteCall() -> Int {
        apiCalls += 1
        return latencyMilliseconds
    }

    /// An account call (of `scope`) being answered starts or ends: the most at once per scope is kept, so a test
    /// can see whether a customer's accounts were read side by side.
    func accountCallStarts(_ scope: String) {
        accountCallsNow[scope, default: 0] += 1
        mostAccountCallsAtOnce[scope] = max(mostAccountCallsAtOnce[scope] ?? 0, accountCallsNow[scope] ?? 0)
    }

    func accountCallEnds(_ scope: String) {
        accountCallsNow[scope, default: 1] -= 1
    }

    /// What a fleet run reads after each run: calls in all and rate-limited ones today.
    public func stats() -> [String: Int] {
        var stats = ["apiCalls": apiCalls, "rateLimitedCallsToday": rateLimitedCalls[currentDay] ?? 0, "tokenRequests": tokenRequests,
                     "overBudgetRefusals": overBudgetRefusals.values.reduce(0, +)]
        for (scope, most) in mostAccountCallsAtOnce { stats["mostAtOnce.\(scope)"] = most }
        return stats
    }

    func fleetRequisition(_ id: String) -> Requisition? {
        guard let fleet, let customer = fleet.customer(reference: id, source: "gocardless") else { return nil }
        return Requisition(id: id, status: "LN", institution: Self.institutions[0].id, agreement: "agr-" + id, accounts: fleet.accountIDs(of: customer),
                           redirect: "http://127.0.0.1/", reference: id)
    }

    func fleetAgreement(_ id: String) -> Agreement? {
        guard id.hasPrefix("agr-"), let requisition = fleetRequisition(String(id.dropFirst(4))) else { return nil }
        // Accepted some weeks ago (spread by customer), valid 180 days.
        let index = Int(requisition.id.dropFirst(SandboxFleet.requisitionPrefix.count)) ?? 0
        let accepted = Date(timeIntervalSince1970: Double(currentDay.adding(days: -(index % 60)).daysSinceEpoch) * 86_400)
        return Agreement(id: id, institution: requisition.institution, maxHistoricalDays: 730, accessValidForDays: 180, created: accepted)
    }

    func fleetAccount(_ id: String) -> Account? {
        guard let fleet, let (customer, account) = fleet.account(id, berlinGroup: false) else { return nil }
        return Account(id: id, iban: fleet.iban(customer: customer, account: account, country: "CZ"), institution: Self.institutions[0].id,
                       bank: fleet.bank(customer: customer, account: account, currency: "CZK"))
    }

    /// Total rate-limited calls made on `day`.
    public func rateLimitedCalls(on day: Day) -> Int { rateLimitedCalls[day] ?? 0 }

    /// Moves the bank's calendar (nil: back to the real UTC date).
    public func setToday(_ day: Day?) { today = day }

    /// Moves the calendar one day on (a fleet run's next day); returns the new day.
    @discardableResult
    public func advanceDay() -> Day {
        let next = currentDay.adding(days: 1)
        today = next
        return next
    }

    // MARK: tokens

    func newToken(secretID: String?, secretKey: String?) -> sending [String: Any]? {
        tokenRequests += 1
        guard secretID == self.secretID, let secretKey,
              constantTimeEqual(Array(secretKey.utf8), Array(self.secretKey.utf8)) else { return nil }
        let access = "gca_" + UUID().uuidString.lowercased()
        let refresh = "gcr_" + UUID().uuidString.lowercased()
        accessTokens[access] = Date().addingTimeInterval(Double(accessLifetime))
        refreshTokens[refresh] = Date().addingTimeInterval(30 * 86_400)
        return ["access": access, "access_expires": accessLifetime, "refresh": refresh, "refresh_expires": 30 * 86_400]
    }

    /// Whether this token/new call is refused for the token endpoint's rate (`tokenRateLimited`); counted.
    func takeTokenRateLimit() -> Bool {
        guard tokenRateLimited > 0 else { return false }
        tokenRateLimited -= 1
        tokenRequests += 1
        return true
    }

    func refreshToken(_ refresh: String?) -> sending [String: Any]? {
        refreshRequests += 1
        guard let refresh, let until = refreshTokens[refresh], until > Date() else { return nil }
        let access = "gca_" + UUID().uuidString.lowercased()
        accessTokens[access] = Date().addingTimeInterval(Double(accessLifetime))
        return ["access": access, "access_expires": accessLifetime]
    }

    func isValid(access: String?) -> Bool {
        guard let access, let until = accessTokens[access] else { return false }
        return until > Date()
    }

    // MARK: consent objects

    func createAgreement(institution: String, maxHistoricalDays: Int, accessValidForDays: Int) -> sending [String: Any]? {
        guard let bank = Self.institutions.first(where: { $0.id == institution }) else { return nil }
        let agreement = Agreement(id: UUID().uuidString.lowercased(), institution: institution,
                                  maxHistoricalDays: min(maxHistoricalDays, bank.totalDays), accessValidForDays: accessValidForDays, created: Date())
        agreements[agreement.id] = agreement
        return agreementJSON(agreement)
    }

    func agreementJSON(_ agreement: Agreement) -> sending [String: Any] {
        let created = ISO8601DateFormatter().string(from: agreement.created)
        return ["id": agreement.id, "created": created, "accepted": created, "institution_id": agreement.institution,
                "max_historical_days": agreement.maxHistoricalDays, "access_valid_for_days": agreement.accessValidForDays,
                "access_scope": ["balances", "details", "transactions"]]
    }

    func agreement(_ id: String) -> sending [String: Any]? { (agreements[id] ?? fleetAgreement(id)).map(agreementJSON) }

    func createRequisition(institution: String, agreement: String?, redirect: String, reference: String, linkBase: String) -> sending [String: Any]? {
        guard Self.institutions.contains(where: { $0.id == institution }) else { return nil }
        let requisition = Requisition(id: UUID().uuidString.lowercased(), status: "CR", institution: institution, agreement: agreement,
                                      accounts: [], redirect: redirect, reference: reference)
        requisitions[requisition.id] = requisition
        return requisitionJSON(requisition, linkBase: linkBase)
    }

    func requisitionJSON(_ requisition: Requisition, linkBase: String) -> sending [String: Any] {
        var json: [String: Any] = ["id": requisition.id, "status": requisition.status, "institution_id": requisition.institution,
                                   "accounts": requisition.accounts, "redirect": requisition.redirect, "reference": requisition.reference,
                                   "link": "\(linkBase)/sandbox-consent/\(requisition.id)"]
        json["agreement"] = requisition.agreement
        return json
    }

    func requisition(_ id: String, linkBase: String) -> sending [String: Any]? {
        guard let requisition = requisitions[id] ?? fleetRequisition(id) else { return nil }
        return requisitionJSON(requisition, linkBase: linkBase)
    }

    /// The end user's decision at the bank; returns where to send them back (`redirect?ref=reference`).
    /// `renewing` names the user's earlier requisition at the same bank: the same accounts (IBANs, bookings)
    /// come back under new account ids and new transaction ids, as a renewed consent does at GoCardless.
    func decide(requisition id: String, approve: Bool, renewing: String? = nil) -> String? {
        guard var requisition = requisitions[id] else { return nil }
        if approve {
            requisition.status = "LN"
            let earlier = renewing.flatMap { requisitions[$0]?.accounts } ?? []
            requisition.accounts = earlier.isEmpty
                ? (0..<2).map { makeAccount(requisition: id, index: $0, institution: requisition.institution) }
                : earlier.enumerated().map { renewAccount($0.element, requisition: id, index: $0.offset) }
        } else {
            requisition.status = "RJ"
        }
        requisitions[id] = requisition
        let separator = requisition.redirect.contains("?") ? "&" : "?"
        return requisition.redirect + separator + "ref=" + requisition.reference
    }

    /// A linked requisition over `accountCount` new accounts, or — `renewing` an earlier requisition — over
    /// that requisition's accounts under new ids (see `decide`).
    @discardableResult
    public func makeLinkedRequisition(id: String, institution: String, accountCount: Int, renewing: String? = nil,
                                      dailyTransactions: Int? = nil, dialect: SyntheticBank.Dialect = .aggregator) -> [String] {
        let bank = Self.institutions.first { $0.id == institution } ?? Self.institutions[0]
        let agreement = Agreement(id: "agr-" + id, institution: bank.id, maxHistoricalDays: bank.totalDays, accessValidForDays: 180,
                                  created: Date())
        agreements[agreement.id] = agreement
        let earlier = renewing.flatMap { requisitions[$0]?.accounts } ?? []
        let accountIDs = earlier.isEmpty
            ? (0..<accountCount).map { makeAccount(requisition: id, index: $0, institution: bank.id, dailyTransactions: dailyTransactions, dialect: dialect) }
            : earlier.enumerated().map { renewAccount($0.element, requisition: id, index: $0.offset) }
        requisitions[id] = Requisition(id: id, status: "LN", institution: bank.id, agreement: agreement.id, accounts: accountIDs,
                                       redirect: "http://127.0.0.1/", reference: id)
        return accountIDs
    }

    func makeAccount(requisition: String, index: Int, institution: String, dailyTransactions: Int? = nil,
                     dialect: SyntheticBank.Dialect = .aggregator) -> String {
        let seed = stableHash(requisition + "#\(index)")
        let id = uuidLike(seed)
        let bank = Self.institutions.first { $0.id == institution } ?? Self.institutions[0]
        accounts[id] = Account(id: id, iban: "CZ65" + String(format: "%020llu", seed % 10_000_000_000_000_000_000), institution: institution,
                               bank: SyntheticBank(seed: seed, currency: "CZK", withIDs: bank.withIDs, dailyTransactions: dailyTransactions, dialect: dialect))
        return id
    }

    /// The late chargebacks set on an account (`lateBooking`), by day: the bank's balances include them.
    func lateAmounts(_ id: String) -> [(day: Day, amountMinor: Int64)] {
        (lateBookings[id] ?? []).filter { $0 <= currentDay }.map { ($0, -43_210) }
    }

    /// A late booking: a chargeback with its own id, a counterparty given by a domestic account number (BBAN).
    static func lateBooking(_ day: Day) -> [String: Any] {
        ["transactionAmount": ["amount": "-432.10", "currency": "CZK"], "bookingDate": day.description, "valueDate": day.description,
         "internalTransactionId": "late-\(day)", "creditorName": "Late Clearing s.r.o.", "creditorAccount": ["bban": "123456789/0800"],
         "remittanceInformationUnstructured": "Card clearing \(day)"]
    }

    /// Rows real banks have sent: valid JSON, not a valid transaction (but the last, whose text holds a U+0000).
    static func poisonRows(day: Day) -> [[String: Any]] {
        [
            ["transactionAmount": ["amount": "-10.00", "currency": "CZK"], "bookingDate": "2026-02-30", "internalTransactionId": "poison-date"],
            ["transactionAmount": ["amount": "-12.345", "currency": "CZK"], "bookingDate": day.description, "internalTransactionId": "poison-amount"],
            ["transactionAmount": ["amount": "-7.00", "currency": "CZK"], "bookingDate": day.description, "internalTransactionId": "poison-nul",
             "remittanceInformationUnstructured": "Platba\u{0}kartou"],
        ]
    }

    /// The same bank account as `earlier` (IBAN, bookings) under a new id, its transactions under new ids.
    func renewAccount(_ earlier: String, requisition: String, index: Int) -> String {
        let old = accounts[earlier]!
        let id = uuidLike(stableHash(requisition + "#\(index)"))
        accounts[id] = Account(id: id, iban: old.iban, institution: old.institution,
                               bank: SyntheticBank(seed: old.bank.seed, currency: old.bank.currency, withIDs: old.bank.withIDs,
                                                   idSalt: stableHash("renewal:" + requisition), dialect: old.bank.dialect))
        return id
    }

    /// The IBANs and synthetic banks of a requisition's accounts: another sandbox can serve the same accounts.
    public func bankAccounts(ofRequisition id: String) -> [(iban: String, bank: SyntheticBank)] {
        (requisitions[id]?.accounts ?? []).compactMap { accounts[$0].map { ($0.iban, $0.bank) } }
    }

    // MARK: account data

    enum Answer {
        case ok([String: Any], remaining: Int)
        case error(Int, [String: Any], remaining: Int?)
        case redirect(Int, location: String)
    }

    /// One account-endpoint call: checks status and budget, counts it, answers.
    func account(_ id: String, scope: String, dateFrom: String?, dateTo: String?) -> sending Answer {
        guard let account = accounts[id] ?? fleetAccount(id) else {
            return .error(404, ["summary": "Not found.", "detail": "Not found.", "status_code": 404], remaining: nil)
        }
        if let fault = takeFault(account: id, scope: scope) {
            if let location = fault.location { return .redirect(fault.status, location: location) }
            return .error(fault.status, fault.body(account: id, iban: account.iban), remaining: nil)
        }
        if apiRateLimitedEvery > 0 { accountCallsSinceRateLimit += 1 }
        // A lasting throttle answers the call after a throttled one of the same account (its retry) normally, so a
        // client that waits as asked always gets through.
        let retryOfThrottled = throttledAccounts.remove(id) != nil
        if apiRateLimited > 0 || (apiRateLimitedEvery > 0 && accountCallsSinceRateLimit >= apiRateLimitedEvery && !retryOfThrottled) {
            apiRateLimited = max(0, apiRateLimited - 1)
            accountCallsSinceRateLimit = 0
            if apiRateLimitedEvery > 0 { throttledAccounts.insert(id) }
            return .error(429, ["summary": "Rate limit exceeded", "status_code": 429,
                                "detail": "The rate limit for this resource is 100/minute. Please try again in 1 seconds"], remaining: nil)
        }
        if account.status != "READY", scope != "metadata" {
            return .error(401, ["summary": "Couldn't update account", "type": "AccessExpiredError", "status_code": 401,
                                "detail": "Access has expired or it has been revoked. To restore access reconnect the account."], remaining: nil)
        }
        if fleet != nil, budgetsDay != currentDay {
            budgets = [:]   // a new day: every account's budget is whole again
            budgetsDay = currentDay
        }
        let key = "\(id)/\(scope)"
        var remaining = budgets[key] ?? dailyBudget
        if scope != "metadata" {
            rateLimitedCalls[currentDay, default: 0] += 1
            guard remaining > 0 else {
                overBudgetRefusals[id, default: 0] += 1
                return .error(429, ["summary": "Couldn't update \(scope)", "type": "RateLimitError", "status_code": 429,
                                    "detail": "Daily request limit set by the Institution has been exceeded."], remaining: 0)
            }
            remaining -= 1
            budgets[key] = remaining
        }
        let institution = Self.institutions.first { $0.id == account.institution }!
        switch scope {
        case "metadata":
            return .ok(["id": id, "iban": account.iban, "institution_id": account.institution, "status": account.status,
                        "owner_name": "ACME s.r.o."], remaining: remaining)
        case "details":
            return .ok(["account": ["resourceId": id, "iban": account.iban, "currency": account.bank.currency, "ownerName": "ACME s.r.o.",
                                    "name": "Business account", "product": "Business Current", "cashAccountType": "CACC"]], remaining: remaining)
        case "balances":
            // Booked balances that agree with the bookings listed (SyntheticBank), late chargebacks included.
            let fault = ledgerFaults[id] ?? SandboxLedgerFault()
            return .ok(["balances": account.bank.balancesJSON(today: currentDay, extra: lateAmounts(id), shiftMinor: fault.shiftMinor ?? 0,
                                                              kinds: fault.kinds.map(Set.init), dated: !(fault.undated ?? false),
                                                              currency: fault.currency)], remaining: remaining)
        default:
            if malformedAccounts.contains(id) {
                return .ok(["transactions": ["booked": [["bookingDate": "2026-02-30", "transactionAmount": ["amount": "1.00", "currency": "CZK"]]]]],
                           remaining: remaining)
            }
            let to = dateTo.flatMap { Day(iso: $0) } ?? currentDay
            let earliest = currentDay.adding(days: -institution.totalDays)
            let from = max(dateFrom.flatMap { Day(iso: $0) } ?? currentDay.adding(days: -90), earliest)
            let visible = account.bank.dialect == .everyField ? account.bank.visibleByValueDate(today: currentDay, from: from, to: min(to, currentDay))
                                                              : account.bank.visible(today: currentDay, from: from, to: min(to, currentDay))
            let edited = editedDays[id] ?? []
            let poison: [[String: Any]] = (poisonedAccounts.contains(id) && to >= currentDay ? Self.poisonRows(day: currentDay) : [])
                + (lateBookings[id] ?? []).filter { $0 >= from && $0 <= min(to, currentDay) }.map(Self.lateBooking)
            var editedToday: Set<Day> = []
            // Banks with transaction ids write the balance after each booking of a closed day (SyntheticBank).
            let fault = ledgerFaults[id] ?? SandboxLedgerFault()
            let after = (fault.chain ?? institution.withIDs) ? account.bank.balancesAfter(visible.booked, today: currentDay, extra: lateAmounts(id)) : []
            let rows = visible.booked.enumerated().map { index, transaction in
                var json = account.bank.json(transaction, pending: false)
                // The bank corrects the first booking of an edited day: a fuller text.
                if edited.contains(transaction.bookingDay), editedToday.insert(transaction.bookingDay).inserted {
                    json["remittanceInformationUnstructured"] = transaction.remittance + " (corrected by the bank)"
                }
                if index < after.count, let balance = after[index] {
                    json["balanceAfterTransaction"] = ["balanceAmount": ["amount": Money(minorUnits: balance, currency: try! Currency(code: account.bank.currency)).decimalString,
                                                                         "currency": account.bank.currency], "balanceType": "closingBooked"]
                }
                return (transaction: transaction, json: json)
            }
            let listed = fault.apply(to: rows, idFields: ["internalTransactionId", "transactionId"])
            if listed.dropped { ledgerFaults[id]?.dropTimes = (fault.dropTimes ?? 1) - 1 }
            return .ok(["transactions": ["booked": listed.rows + poison,
                                         "pending": visible.pending.map { account.bank.json($0, pending: true) }]],
                       remaining: remaining)
        }
    }

    // MARK: control

    public struct Control: Codable, Sendable {
        public var today: String?
        public var accessLifetime: Int?
        /// Every access token issued so far expires now (as if its lifetime had run out).
        public var expireAccessTokens: Bool?
        public var expireRequisition: String?
        public var suspendAccount: String?
        public var budgetAccount: String?
        public var budgetScope: String?
        public var budgetRemaining: Int?
        public var malformedAccount: String?
        /// The account's lists carry an impossible date, an amount with three decimals in CZK, and a U+0000.
        public var poisonAccount: String?
        /// With `lateDaysBack`: bookings on those days before today appear now (card clearing abroad, chargebacks).
        public var lateAccount: String?
        public var lateDaysBack: [Int]?
        /// Every account call answers this many milliseconds late.
        public var responseDelayMilliseconds: Int?
        /// Every API call (fleet or not) answers this many milliseconds late from now on (`sandbox --latency`).
        public var latencyMilliseconds: Int?
        /// With `editDay`: the bank corrects the text of the account's first booking of that day.
        public var editAccount: String?
        public var editDay: String?
        /// The next this many account calls answer GoCardless's per-minute 429 ("try again in 1 seconds").
        public var apiRateLimited: Int?
        /// From now on every this-many-th account call answers that 429 (0 stops it): a throttle that lasts.
        public var apiRateLimitedEvery: Int?
        /// Forgets the most account calls answered at once (`stats`' `mostAtOnce.<scope>`).
        public var resetMostAtOnce: Bool?
        /// An error answer for one account's endpoint: `faultScope` (metadata, details, balances — the default —
        /// or transactions) answers `faultStatus` with GoCardless's documented body for `faultType`, for
        /// `faultTimes` calls (every call when absent), or redirects to `faultLocation`.
        public var faultAccount: String?
        public var faultScope: String?
        public var faultStatus: Int?
        public var faultType: String?
        public var faultTimes: Int?
        public var faultLocation: String?
        /// Faults in this account's books (`SandboxLedgerFault`): a booking dropped from a list or listed twice,
        /// balances shifted, of other types, undated or in another currency. Replaces the account's earlier ones.
        public var ledgerAccount: String?
        public var ledger: SandboxLedgerFault?
        /// The next this many token/new calls answer 429 with `Retry-After: 1`.
        public var tokenRateLimited: Int?
        public var createRequisition: String?
        public var institution: String?
        public var accounts: Int?
    }

    public func apply(_ control: Control) -> sending [String: Any] {
        if let text = control.today { today = Day(iso: text) }
        if let lifetime = control.accessLifetime { accessLifetime = lifetime }
        if control.expireAccessTokens == true { accessTokens = [:] }
        if let id = control.expireRequisition { requisitions[id]?.status = "EX"; for account in requisitions[id]?.accounts ?? [] { accounts[account]?.status = "EXPIRED" } }
        if let id = control.suspendAccount { accounts[id]?.status = "SUSPENDED" }
        if let id = control.budgetAccount { budgets["\(id)/\(control.budgetScope ?? "transactions")"] = control.budgetRemaining ?? 0 }
        if let id = control.malformedAccount { malformedAccounts.insert(id) }
        if let id = control.poisonAccount { poisonedAccounts.insert(id) }
        if let delay = control.responseDelayMilliseconds { responseDelayMilliseconds = delay }
        if let latency = control.latencyMilliseconds { latencyMilliseconds = max(0, latency) }
        if let id = control.lateAccount { lateBookings[id, default: []] += (control.lateDaysBack ?? []).map { currentDay.adding(days: -$0) } }
        if let id = control.editAccount, let day = control.editDay.flatMap({ Day(iso: $0) }) { editedDays[id, default: []].insert(day) }
        if let count = control.apiRateLimited { apiRateLimited = count }
        if control.resetMostAtOnce == true { mostAccountCallsAtOnce = [:] }
        if let every = control.apiRateLimitedEvery { apiRateLimitedEvery = max(0, every); accountCallsSinceRateLimit = 0 }
        armFault(control)
        if let id = control.ledgerAccount { ledgerFaults[id] = control.ledger ?? SandboxLedgerFault() }
        if let count = control.tokenRateLimited { tokenRateLimited = count }
        var answer: [String: Any] = ["ok": true]
        if let id = control.createRequisition {
            answer["accounts"] = makeLinkedRequisition(id: id, institution: control.institution ?? Self.institutions[0].id, accountCount: control.accounts ?? 1)
        }
        answer["tokenRequests"] = tokenRequests
        answer["refreshRequests"] = refreshRequests
        return answer
    }

    public func requisitionAccounts(_ id: String) -> [String] { (requisitions[id] ?? fleetRequisition(id))?.accounts ?? [] }
}

/// FNV-1a: stable across runs and machines (Swift's Hasher is seeded per process).
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

func uuidLike(_ seed: UInt64) -> String {
    let hex = String(format: "%016llx%016llx", seed, seed &* 0x9E37_79B9_7F4A_7C15)
    let chars = Array(hex)
    return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-4" + String(chars[13..<16]) + "-a" + String(chars[17..<20]) + "-" + String(chars[20..<32])
}
