import BankSyncCore
import Foundation

/// One GoCardless requisition: its linked accounts, their details, balances and transactions.
///
/// Dedup ids: GoCardless generates `internalTransactionId` for booked transactions, unique and consistent
/// within one account across its whole coverage, while the bank's own `transactionId` "can vary wildly
/// between institutions" and `entryReference` is optional. So booked transactions are keyed by
/// `internalTransactionId` when present and by the fingerprint otherwise; pending ones (which carry no
/// internal id and may change) always by the fingerprint.
public struct GoCardlessSource: BankDataSource {
    let client: GoCardlessClient
    let requisitionID: String

    public init(client: GoCardlessClient, requisitionID: String) {
        self.client = client
        self.requisitionID = requisitionID
    }

    public var transactionIDsAreStable: Bool { true }

    /// GoCardless limits calls per account (and its per-minute limit answers a 429 the client waits out).
    public var readsAccountsConcurrently: Bool { true }

    /// A daily run asks, per account, for balances and transactions only: the consent's terms, the institution
    /// and each account's details come from what earlier syncs stored, so an account costs two of its four daily
    /// rate-limited calls (details are read on the first sync, when a balance's currency shows they changed, and
    /// every `KnownAccounts.detailsRefreshDays` days). The requisition itself (status, account list) is read only
    /// when something is not known (`readsRequisition`): its accounts are fixed when the customer links, and an
    /// ended consent answers the account calls with 401 `AccessExpiredError`, which ends the customer's sync just
    /// as an expired requisition does. When every account refuses its balances that day (a deleted requisition
    /// answers 404, an ended agreement `AccountValidEUAError`), the requisition is read after all: it says whether
    /// the consent ended.
    public func accounts(known: KnownAccounts) async throws(SourceError) -> SourceSnapshot {
        if !readsRequisition(known) {
            let accounts = try await readConcurrently(known.details.keys.sorted()) { id throws(SourceError) in
                try await account(id, institutionBIC: nil, stored: known.reusableDetails(of: id), lastKnown: known.details[id])
            }
            let everyAccountRefused = accounts.allSatisfy { account in
                account.missing.contains { $0.part == "balances" && $0.reason.code != "rate_limited" }
            }
            if !everyAccountRefused {
                return SourceSnapshot(accounts: accounts, maxHistoryDays: known.historyCap, consentExpiresAt: nil, consentTermsRead: false)
            }
        }
        return try await accountsReadingRequisition(known: known)
    }

    private func accountsReadingRequisition(known: KnownAccounts) async throws(SourceError) -> SourceSnapshot {
        let requisition = try await client.call(.GET, "/api/v2/requisitions/\(requisitionID)/")
        let status = JSONShape.string(requisition["status"]) ?? "?"
        guard status == "LN" else {
            if status == "EX" { throw .consentExpired("requisition \(requisitionID) has expired") }
            if ["RJ", "SU"].contains(status) { throw .consentExpired("requisition \(requisitionID) was rejected or suspended (status \(status))") }
            // CR, GC, UA, GA, SA: the customer is still on the way through the bank's consent screens.
            throw .consentPending("requisition \(requisitionID) is not linked yet (status \(status))")
        }
        // Terms not read again: the stored cap stands for the agreement's max_historical_days.
        var maxHistory: Int? = known.consentTermsKnown ? known.historyCap : nil
        var expiresAt: Date?
        if !known.consentTermsKnown, let agreementID = JSONShape.string(requisition["agreement"]) {
            let agreement = try await client.call(.GET, "/api/v2/agreements/enduser/\(agreementID)/")
            maxHistory = intValue(agreement["max_historical_days"])
            if let days = intValue(agreement["access_valid_for_days"]),
               let start = (JSONShape.string(agreement["accepted"]) ?? JSONShape.string(agreement["created"])).flatMap(parseInstant) {
                expiresAt = start.addingTimeInterval(Double(days) * 86_400)
            }
        }
        var institutionBIC: String?
        if let institutionID = JSONShape.string(requisition["institution_id"]) {
            let institution = try await client.institution(institutionID)
            institutionBIC = institution.bic
            if let total = institution.totalDays { maxHistory = min(maxHistory ?? total, total) }
        }
        let bic = institutionBIC
        let accounts = try await readConcurrently((requisition["accounts"] as? [String]) ?? []) { id throws(SourceError) in
            try await account(id, institutionBIC: bic, stored: known.reusableDetails(of: id), lastKnown: known.details[id])
        }
        return SourceSnapshot(accounts: accounts, maxHistoryDays: maxHistory, consentExpiresAt: expiresAt, consentTermsRead: !known.consentTermsKnown)
    }

    /// The requisition's accounts read side by side, at most `accountReadsAtOnce` at a time, in the order given:
    /// a customer's accounts cost one aggregator round trip of latency, not one each. GoCardless budgets its
    /// limits per account (and answers its own per-minute limit with a 429 the client waits out), so reading
    /// sibling accounts at once asks nothing more of it. Once a read ends the customer's sync (the consent ended),
    /// no further account is started, and the first such account (in order) decides the error.
    func readConcurrently(_ ids: [String], _ read: @escaping @Sendable (String) async throws(SourceError) -> SourceAccount)
        async throws(SourceError) -> [SourceAccount] {
        var results = [Result<SourceAccount, SourceError>?](repeating: nil, count: ids.count)
        await withTaskGroup(of: (Int, Result<SourceAccount, SourceError>).self) { group in
            var consentEnded = false
            for (index, id) in ids.enumerated() {
                if index >= Self.accountReadsAtOnce, let (done, result) = await group.next() {
                    results[done] = result
                    if case .failure(let error) = result, Self.endsCustomer(error) { consentEnded = true }
                }
                // The consent ended: no other account is started (reads in flight finish, their answers unused).
                if consentEnded { break }
                group.addTask { (index, await Self.attempt(id, read)) }
            }
            while let (done, result) = await group.next() { results[done] = result }
        }
        for case .failure(let error)? in results where Self.endsCustomer(error) { throw error }
        var accounts: [SourceAccount] = []
        for result in results {
            guard let result else { throw SourceError.unavailable("an account of the requisition was not read") }
            accounts.append(try result.get())
        }
        return accounts
    }

    static func attempt(_ id: String, _ read: @Sendable (String) async throws(SourceError) -> SourceAccount) async -> Result<SourceAccount, SourceError> {
        do { return .success(try await read(id)) } catch { return .failure(error) }
    }

    /// Accounts of one customer read at once (most consents hold one to three).
    static let accountReadsAtOnce = 4

    /// Whether this run reads the requisition: when the consent's terms are not stored (a first sync, a renewal),
    /// no account is stored, an account's details are due for their refresh, and one day a week (spread by
    /// requisition) in any case — a requisition GoCardless suspended without ending its accounts' access shows there.
    public func readsRequisition(_ known: KnownAccounts) -> Bool {
        guard known.consentTermsKnown, !known.details.isEmpty, let today = known.today else { return true }
        if known.details.keys.contains(where: { known.reusableDetails(of: $0) == nil }) { return true }
        return Int(stableHash(requisitionID) % 7) == today.daysSinceEpoch % 7
    }

    /// One account of the requisition. Whatever GoCardless refuses about this account stays this account's
    /// problem: metadata it cannot read skips the account this run (`skipReason`), refused details or balances
    /// leave the account without them (`missing`), and the other accounts are read as usual. Only a consent
    /// that has ended (or not begun) is the customer's. `lastKnown` (stored details, even when due for a refresh)
    /// stands in for what could not be read, so a refusal never blanks what is stored.
    func account(_ id: String, institutionBIC: String?, stored: BankAccount?, lastKnown: BankAccount? = nil) async throws(SourceError)
        -> SourceAccount {
        var account = stored ?? lastKnown ?? BankAccount(sourceAccountID: id)
        var missing: [SourceAccount.MissingPart] = []
        do {
            if stored == nil {
                let read = try await metadata(id, institutionBIC: institutionBIC)
                if lastKnown == nil { account = read }
                do {
                    account = try await details(of: read, institutionBIC: institutionBIC)
                } catch let error where !Self.endsCustomer(error) && error.code != "rate_limited" {
                    missing.append(.init(part: "details", reason: error))
                }
            }
            do {
                // An account whose access ended answers its balances with 401 AccessExpiredError: no status read needed.
                let balances = try await client.call(.GET, "/api/v2/accounts/\(id)/balances/", account: id)
                account.balances = try BerlinGroupMapping.balances(balances["balances"], account: id)
            } catch let error where !Self.endsCustomer(error) && error.code != "rate_limited" {
                missing.append(.init(part: "balances", reason: error))
            }
            if let stored, account.balances.contains(where: { $0.amount.currency.code != stored.currency }) {
                // The balances are in another currency than the stored details say: read the details again.
                do {
                    account = try await details(of: account, institutionBIC: institutionBIC)
                } catch let error where !Self.endsCustomer(error) && error.code != "rate_limited" {
                    missing.append(.init(part: "details", reason: error))
                }
            }
        } catch let error where !Self.endsCustomer(error) {
            // Out of budget, or the account itself cannot be read (metadata): skipped this run, the others carry on.
            return SourceAccount(account: account, skipReason: error, missing: missing)
        }
        if let resetAt = await client.budget.exhausted(account: id, scope: "transactions") {
            return SourceAccount(account: account, skipReason: .rateLimited(account: id, retryAt: resetAt, detail: "daily transactions budget used up"),
                                 missing: missing)
        }
        return SourceAccount(account: account, missing: missing)
    }

    /// A consent that has ended or is not authorised yet stops the customer's whole pull; anything else one
    /// account's read.
    static func endsCustomer(_ error: SourceError) -> Bool {
        switch error {
        case .consentExpired, .consentPending: true
        default: false
        }
    }

    /// The account's status and IBAN (`/accounts/{id}/`, not rate-limited).
    func metadata(_ id: String, institutionBIC: String?) async throws(SourceError) -> BankAccount {
        let metadata = try await client.call(.GET, "/api/v2/accounts/\(id)/", account: id)
        switch JSONShape.string(metadata["status"]) {
        case "EXPIRED": throw .consentExpired("account \(id) access has expired")
        case "SUSPENDED": throw .consentExpired("account \(id) is suspended; the customer must reconnect")
        default: break
        }
        return BankAccount(sourceAccountID: id, iban: JSONShape.string(metadata["iban"]), bic: institutionBIC,
                           ownerName: JSONShape.string(metadata["owner_name"]))
    }

    /// `/accounts/{id}/details/` (rate-limited) over what is known; balances are kept.
    func details(of known: BankAccount, institutionBIC: String?) async throws(SourceError) -> BankAccount {
        let id = known.sourceAccountID
        let details = try await client.call(.GET, "/api/v2/accounts/\(id)/details/", account: id)
        guard let object = details["account"] as? [String: Any] else { return known }
        var account = BankAccount(sourceAccountID: id, iban: JSONShape.string(object["iban"]) ?? known.iban,
                                  bic: JSONShape.string(object["bic"]) ?? institutionBIC ?? known.bic,
                                  currency: JSONShape.string(object["currency"]), name: JSONShape.string(object["name"]),
                                  product: JSONShape.string(object["product"]) ?? JSONShape.string(object["cashAccountType"]),
                                  ownerName: JSONShape.string(object["ownerName"]) ?? known.ownerName)
        account.balances = known.balances
        return account
    }

    /// The window's history in one answer, read as it streams (`TransactionDocumentReader`): pages of 500 are
    /// handed out as they are mapped, never the whole document in memory.
    public func transactions(of account: SourceAccount, window: SyncWindow, refused: RefusedRowCollector)
        -> AsyncThrowingStream<[BankTransaction], any Error> {
        let client = client
        let id = account.account.sourceAccountID
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let path = "/api/v2/accounts/\(id)/transactions/?date_from=\(window.from)&date_to=\(window.to)"
                    let reader = TransactionDocumentReader(account: id, bookedIDFields: ["internalTransactionId"], refused: refused)
                    try await client.stream(path, account: id) { buffer throws(SourceError) in
                        try reader.feed(buffer.readableBytesView, what: path) { continuation.yield($0) }
                    }
                    _ = try reader.finish(what: path) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

func intValue(_ value: Any?) -> Int? {
    switch value {
    case let number as Int: number
    case let text as String: Int(text)
    case let number as NSNumber: number.intValue
    default: nil
    }
}

func parseInstant(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)
}
