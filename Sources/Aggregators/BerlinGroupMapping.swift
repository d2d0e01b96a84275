import BankSyncCore
import Foundation

/// Maps the Berlin Group NextGenPSD2 transaction and balance objects — also what GoCardless Bank Account
/// Data returns — into BankSyncCore types. Every failure names the account and the field.
enum BerlinGroupMapping {
    /// `idFields`: which of the source's id fields identifies a transaction, in order of preference. `rawJSON`: the
    /// element as the source sent it (kept as the stored raw JSON; PostgreSQL's jsonb normalises it), else it is
    /// written again from `json`.
    static func transaction(_ json: [String: Any], status: BankTransaction.Status, account: String, index: Int,
                            idFields: [String], rawJSON: String? = nil) throws(SourceError) -> BankTransaction {
        let place = "transactions.\(status.rawValue)[\(index)]"
        guard let amountObject = json["transactionAmount"] as? [String: Any],
              let amountText = JSONShape.string(amountObject["amount"]),
              let currencyText = JSONShape.string(amountObject["currency"]) else {
            throw .malformed(account: account, field: "\(place).transactionAmount", detail: "amount and currency are required")
        }
        let amount: Money
        do {
            amount = try Money(parsing: amountText, currencyCode: currencyText)
        } catch {
            throw .malformed(account: account, field: "\(place).transactionAmount", detail: error.description)
        }
        // Dates as banks send them: a booked row without `bookingDate` takes the day of `bookingDateTime`, else
        // `valueDate`, else `valueDateTime` (the raw JSON shows which it had). Only none of them is malformed.
        var bookingDate = try day(json["bookingDate"], account: account, field: "\(place).bookingDate")
        if bookingDate == nil { bookingDate = try day(json["bookingDateTime"], account: account, field: "\(place).bookingDateTime") }
        var valueDate = try day(json["valueDate"], account: account, field: "\(place).valueDate")
        if valueDate == nil { valueDate = try day(json["valueDateTime"], account: account, field: "\(place).valueDateTime") }
        if status == .booked, bookingDate == nil { bookingDate = valueDate }
        if status == .booked, bookingDate == nil {
            throw .malformed(account: account, field: "\(place).bookingDate",
                             detail: "a booked transaction needs a bookingDate, bookingDateTime, valueDate or valueDateTime")
        }
        // The other party: the creditor of money leaving the account, the debtor of money arriving.
        let outgoing = amount.minorUnits < 0
        let party = outgoing ? "creditor" : "debtor"
        // The other party's account as banks send it: an IBAN, else a BBAN / domestic number (`123456789/0800`),
        // else another identification or a (masked) card number.
        let partyAccount = json["\(party)Account"] as? [String: Any]
        let counterpartyIBAN = partyAccount.flatMap { account in
            JSONShape.string(account["iban"]) ?? JSONShape.string(account["bban"])
                ?? (account["other"] as? [String: Any]).flatMap { JSONShape.string($0["identification"]) }
                ?? JSONShape.string(account["maskedPan"]) ?? JSONShape.string(account["pan"])
        }
        var remittance = JSONShape.string(json["remittanceInformationUnstructured"])
        for arrayField in ["remittanceInformationUnstructuredArray", "remittanceInformationStructuredArray"] where remittance == nil {
            if let parts = json[arrayField] as? [String] { remittance = parts.joined(separator: " ") }
        }
        if remittance == nil { remittance = JSONShape.string(json["remittanceInformationStructured"]) }
        let code = JSONShape.string(json["bankTransactionCode"]) ?? JSONShape.string(json["proprietaryBankTransactionCode"])
        let sourceID = idFields.lazy.compactMap { JSONShape.string(json[$0]) }.first
        let raw = rawJSON ?? (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        var transaction = BankTransaction(status: status, bookingDate: bookingDate, valueDate: valueDate, amount: amount,
                                          counterpartyIBAN: counterpartyIBAN, counterpartyName: JSONShape.string(json["\(party)Name"]),
                                          remittance: remittance, bankTransactionCode: code, sourceID: sourceID, rawJSON: raw)
        transaction.mappingVersion = TransactionMapping.version
        return transaction
    }

    static func balances(_ list: Any?, account: String) throws(SourceError) -> [Balance] {
        guard let list else { return [] }
        guard let objects = list as? [[String: Any]] else {
            throw .malformed(account: account, field: "balances", detail: "expected an array of objects")
        }
        var balances: [Balance] = []
        for (index, json) in objects.enumerated() {
            let place = "balances[\(index)]"
            guard let amountObject = json["balanceAmount"] as? [String: Any],
                  let amountText = JSONShape.string(amountObject["amount"]),
                  let currencyText = JSONShape.string(amountObject["currency"]) else {
                throw .malformed(account: account, field: "\(place).balanceAmount", detail: "amount and currency are required")
            }
            // An unknown balance type (banks add their own) is skipped, not fatal.
            guard let kind = JSONShape.string(json["balanceType"]).flatMap(Balance.Kind.init(rawValue:)) else { continue }
            let amount: Money
            do {
                amount = try Money(parsing: amountText, currencyCode: currencyText)
            } catch {
                throw .malformed(account: account, field: "\(place).balanceAmount", detail: error.description)
            }
            // A balance's day: its referenceDate, else the date of lastChangeDateTime; without either it is shown as of
            // the day it was read but never reconciled (Reconciliation.anchors).
            let balance: Balance
            if let reference = try day(json["referenceDate"], account: account, field: "\(place).referenceDate") {
                balance = Balance(kind: kind, amount: amount, referenceDate: reference, datedBy: .referenceDate)
            } else if let changed = JSONShape.string(json["lastChangeDateTime"]).flatMap({ Day(iso: String($0.prefix(10))) }) {
                balance = Balance(kind: kind, amount: amount, referenceDate: changed, datedBy: .lastChangeDateTime)
            } else {
                balance = Balance(kind: kind, amount: amount, referenceDate: Day(utcSecondsSince1970: Date().timeIntervalSince1970), datedBy: .fetched)
            }
            balances.append(balance)
        }
        return balances
    }

    static func day(_ value: Any?, account: String, field: String) throws(SourceError) -> Day? {
        guard let value, !(value is NSNull) else { return nil }
        guard let text = value as? String, let day = Day(iso: text) else {
            throw .malformed(account: account, field: field, detail: "expected a YYYY-MM-DD date, got \(value)")
        }
        return day
    }
}
