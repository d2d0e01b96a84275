import BankSyncCore
import Crypto
import Foundation

/// Everything the Flowpay sandbox has accepted, and the faults queued for the next requests.
public actor FlowpaySandboxState {
    public struct Fault: Codable, Sendable {
        public init(status: Int?, retryAfter: String?, delayMilliseconds: Int?, drop: Bool?, count: Int, logref: String?) {
            self.status = status; self.retryAfter = retryAfter; self.delayMilliseconds = delayMilliseconds
            self.drop = drop; self.count = count; self.logref = logref
        }

        /// Answer this status (with the error envelope) instead of handling the request.
        public var status: Int?
        public var retryAfter: String?
        public var delayMilliseconds: Int?
        /// Close the connection without answering.
        public var drop: Bool?
        /// How many of the next partner-API requests this applies to.
        public var count: Int
        public var logref: String?
    }

    public struct Transaction: Codable, Sendable, Equatable {
        public var id: String
        public var iban: String
        public var bookingDate: String
        public var amount: String
        public var idempotencyKey: String
    }

    public struct Event: Codable, Sendable, Equatable {
        public var kind: String
        public var customer: String
        public var idempotencyKey: String
        public var count: Int
    }

    public struct RequestRecord: Codable, Sendable {
        public var method: String
        public var path: String
        public var idempotencyKey: String?
        public var status: Int
    }

    public struct Snapshot: Codable, Sendable {
        public var tokenRequests: Int
        public var transactions: [String: [Transaction]]
        public var accounts: [String: String]
        public var events: [Event]
        public var requests: [RequestRecord]
    }

    let clientID: String
    let clientSecret: String
    var tokenLifetime: Int
    var tokens: [String: Date] = [:]
    var tokenRequests = 0
    var idempotent: [String: (bodyHash: [UInt8], status: Int, body: [UInt8])] = [:]
    var inFlight: [String: [UInt8]] = [:]
    var transactions: [String: [Transaction]] = [:]
    var accounts: [String: String] = [:]
    var events: [Event] = []
    var requests: [RequestRecord] = []
    var faults: [Fault] = []
    var refusedIDs: Set<String> = []
    var refusalLogref: String?
    var refusalNamesIDs = false
    var refusedCustomers: [String: String] = [:]

    /// A fixed "today" (tests, replays); nil is the real UTC date.
    var today: Day?

    /// Fleet runs (`sandbox --fleet`): keep counts and one 64-bit hash per transaction id instead of every
    /// transaction, request and event, so millions of transactions fit; `stats()` answers what a run needs.
    var countsOnly = false
    var seenTransactionIDs: Set<UInt64> = []
    var statistics = Statistics()

    /// What a fleet run checks: transactions received, those received twice, requests by kind.
    public struct Statistics: Codable, Sendable {
        public var transactions = 0
        public var duplicateTransactions = 0
        public var accountPuts = 0
        public var transactionPosts = 0
        public var updatedSignals = 0
        public var requests = 0
    }

    public func keepCountsOnly() { countsOnly = true }

    public func stats() -> Statistics { statistics }

    public init(clientID: String, clientSecret: String, tokenLifetime: Int = 86_400, today: Day? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.tokenLifetime = tokenLifetime
        self.today = today
    }

    var currentDay: Day { today ?? todayUTC() }

    /// Moves the sandbox's calendar (nil: back to the real UTC date).
    public func setToday(_ day: Day?) { today = day }

    /// Moves the calendar one day on (a fleet run's next day); returns the new day.
    @discardableResult
    public func advanceDay() -> Day {
        let next = currentDay.adding(days: 1)
        today = next
        return next
    }

    func issueToken(clientID: String?, clientSecret: String?) -> (token: String, lifetime: Int)? {
        tokenRequests += 1
        guard clientID == self.clientID, let clientSecret,
              constantTimeEqual(Array(clientSecret.utf8), Array(self.clientSecret.utf8)) else { return nil }
        let token = "sbx_" + UUID().uuidString.lowercased()
        tokens[token] = Date().addingTimeInterval(TimeInterval(tokenLifetime))
        return (token, tokenLifetime)
    }

    func isValid(token: String?) -> Bool {
        guard let token, let expiry = tokens[token] else { return false }
        return expiry > Date()
    }

    func nextFault() -> Fault? {
        guard !faults.isEmpty else { return nil }
        let fault = faults[0]
        if fault.count <= 1 { faults.removeFirst() } else { faults[0].count -= 1 }
        return fault
    }

    enum Admission {
        case proceed
        case replay(status: Int, body: [UInt8])
        case differentBody
        case inProgress
    }

    /// Checks and reserves an idempotency key in one step, so two concurrent requests with the same key
    /// (a crashed client's request still in flight, and its resend) can never both be processed.
    func admit(key: String, bodyHash: [UInt8]) -> Admission {
        if inFlight[key] != nil { return .inProgress }
        if let stored = idempotent[key] {
            return stored.bodyHash == bodyHash ? .replay(status: stored.status, body: stored.body) : .differentBody
        }
        inFlight[key] = bodyHash
        return .proceed
    }

    /// Ends a reserved request: remembers its answer (any answer, as idempotency layers do) and frees the key.
    func finish(key: String, bodyHash: [UInt8], status: Int, body: [UInt8]) {
        inFlight[key] = nil
        idempotent[key] = (bodyHash, status, body)
    }

    func record(_ request: RequestRecord) {
        statistics.requests += 1
        if !countsOnly { requests.append(request) }
    }

    func accept(transactions batch: [Transaction], customer: String, key: String) {
        statistics.transactionPosts += 1
        statistics.transactions += batch.count
        if countsOnly {
            for transaction in batch where !seenTransactionIDs.insert(fnv1a(customer + "/" + transaction.id)).inserted {
                statistics.duplicateTransactions += 1
            }
            return
        }
        transactions[customer, default: []].append(contentsOf: batch)
        events.append(Event(kind: "bank-transactions", customer: customer, idempotencyKey: key, count: batch.count))
    }

    func accept(accountsJSON: String, count: Int, customer: String, key: String) {
        statistics.accountPuts += 1
        if countsOnly { return }
        accounts[customer] = accountsJSON
        events.append(Event(kind: "bank-accounts", customer: customer, idempotencyKey: key, count: count))
    }

    func acceptUpdated(customer: String, key: String) {
        statistics.updatedSignals += 1
        if countsOnly { return }
        events.append(Event(kind: "bank-accounts-updated", customer: customer, idempotencyKey: key, count: 0))
    }

    // MARK: control (tests and the demo)

    public func snapshot() -> Snapshot {
        Snapshot(tokenRequests: tokenRequests, transactions: transactions, accounts: accounts, events: events, requests: requests)
    }

    public func inject(_ fault: Fault) { faults.append(fault) }

    /// Financings Flowpay knows, by id, with their customer (`GET /partner-api/v1/financings/{id}`).
    var financings: [UUID: UUID] = [:]

    public func addFinancing(_ id: UUID, customer: UUID) { financings[id] = customer }

    func financing(_ id: UUID) -> UUID? { financings[id] }

    /// Transaction ids whose batches are refused with 422 (answered with `logref`) until `refuse([])`. Each
    /// error names its row by position (message and `path`), or by its id with `namingIDs`.
    public func refuse(_ ids: Set<String>, logref: String? = nil, namingIDs: Bool = false) {
        refusedIDs = ids
        refusalLogref = logref
        refusalNamesIDs = namingIDs
    }

    /// Every partner call for `customer` is refused with 422 and one error naming no row (`reason`, e.g. a service
    /// not activated, an IBAN Flowpay does not know for it), answered with `logref`, until `acceptCustomer`.
    public func refuseCustomer(_ customer: UUID, because reason: String, logref: String? = nil) {
        refusedCustomers[customer.uuidString.lowercased()] = reason
        refusalLogref = logref
    }

    public func acceptCustomer(_ customer: UUID) { refusedCustomers[customer.uuidString.lowercased()] = nil }

    func customerRefusal(_ customer: String) -> String? { refusedCustomers[customer.lowercased()] }

    func refusedRows(_ batch: [Transaction]) -> [Int] {
        batch.indices.filter { refusedIDs.contains(batch[$0].id) }
    }

    public func revokeTokens() { tokens.removeAll() }

    public func setTokenLifetime(_ seconds: Int) { tokenLifetime = seconds }
}

func fnv1a(_ text: String) -> UInt64 { stableHash(text) }

func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
