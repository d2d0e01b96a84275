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

    public func accounts() async throws(SourceError) -> SourceSnapshot {
        let requisition = try await client.call(.GET, "/api/v2/requisitions/\(requisitionID)/")
        let status = JSONShape.string(requisition["status"]) ?? "?"
        guard status == "LN" else {
            if status == "EX" { throw .consentExpired("requisition \(requisitionID) has expired") }
            if ["RJ", "SU"].contains(status) { throw .consentExpired("requisition \(requisitionID) was rejected or suspended (status \(status))") }
            // CR, GC, UA, GA, SA: the customer is still on the way through the bank's consent screens.
            throw .consentPending("requisition \(requisitionID) is not linked yet (status \(status))")
        }
        var maxHistory: Int?
        var expiresAt: Date?
        if let agreementID = JSONShape.string(requisition["agreement"]) {
            let agreement = try await client.call(.GET, "/api/v2/agreements/enduser/\(agreementID)/")
            maxHistory = intValue(agreement["max_historical_days"])
            if let days = intValue(agreement["access_valid_for_days"]),
               let start = (JSONShape.string(agreement["accepted"]) ?? JSONShape.string(agreement["created"])).flatMap(parseInstant) {
                expiresAt = start.addingTimeInterval(Double(days) * 86_400)
            }
        }
        var institutionBIC: String?
        if let institutionID = JSONShape.string(requisition["institution_id"]) {
            let institution = try await client.call(.GET, "/api/v2/institutions/\(institutionID)/")
            institutionBIC = JSONShape.string(institution["bic"])
            if let total = intValue(institution["transaction_total_days"]) { maxHistory = min(maxHistory ?? total, total) }
        }
        var accounts: [SourceAccount] = []
        for id in (requisition["accounts"] as? [String]) ?? [] {
            accounts.append(try await account(id, institutionBIC: institutionBIC))
        }
        return SourceSnapshot(accounts: accounts, maxHistoryDays: maxHistory, consentExpiresAt: expiresAt)
    }

    func account(_ id: String, institutionBIC: String?) async throws(SourceError) -> SourceAccount {
        let metadata = try await client.call(.GET, "/api/v2/accounts/\(id)/", account: id)
        switch JSONShape.string(metadata["status"]) {
        case "EXPIRED": throw .consentExpired("account \(id) access has expired")
        case "SUSPENDED": throw .consentExpired("account \(id) is suspended; the customer must reconnect")
        default: break
        }
        var account = BankAccount(sourceAccountID: id, iban: JSONShape.string(metadata["iban"]), bic: institutionBIC,
                                  ownerName: JSONShape.string(metadata["owner_name"]))
        do {
            let details = try await client.call(.GET, "/api/v2/accounts/\(id)/details/", account: id)
            if let object = details["account"] as? [String: Any] {
                account = BankAccount(sourceAccountID: id, iban: JSONShape.string(object["iban"]) ?? account.iban,
                                      bic: JSONShape.string(object["bic"]) ?? institutionBIC,
                                      currency: JSONShape.string(object["currency"]), name: JSONShape.string(object["name"]),
                                      product: JSONShape.string(object["product"]) ?? JSONShape.string(object["cashAccountType"]),
                                      ownerName: JSONShape.string(object["ownerName"]) ?? account.ownerName)
            }
            let balances = try await client.call(.GET, "/api/v2/accounts/\(id)/balances/", account: id)
            account.balances = try BerlinGroupMapping.balances(balances["balances"], account: id)
        } catch let error where error.code == "rate_limited" {
            return SourceAccount(account: account, skipReason: error)
        }
        if let resetAt = await client.budget.exhausted(account: id, scope: "transactions") {
            return SourceAccount(account: account, skipReason: .rateLimited(account: id, retryAt: resetAt, detail: "daily transactions budget used up"))
        }
        return SourceAccount(account: account)
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
