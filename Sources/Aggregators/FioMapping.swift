import BankSyncCore
import Foundation

/// Maps Fio banka's `transactions.json` (API Bankovnictví) into BankSyncCore types. A movement is a map of
/// `columnN: {value, name, id}` or `null`; every column may be null.
///
/// How a movement reaches Flowpay's `MerchantBankTransaction` (the contract's one mapping file keeps the field
/// names; these are the Fio-side decisions, also in the README):
/// - `bookingDate` ← `column0` (`2026-11-03+0100`: the date part; the offset is the bank's zone, not a shift);
///   no `valueDate` (Fio gives none).
/// - `amount` ← `column1` (signed already), `currency` ← `column14`, else the account's (a Fio movement is in the
///   account's currency; the original FX amount of a card payment abroad is `column18`, kept in the raw row).
/// - `counterAccount` ← `column2` + `column3` as the Czech IBAN (`CzechIBAN`, prefix included); `column2` that is an
///   IBAN already (a foreign payment) stays; a number that is not a Czech domestic one stays as `number/code`.
/// - `counterName` ← `column10` (counter-account name).
/// - `remittanceInfo` ← `column16` (message for the recipient), else `column7` (user identification: Fio puts a
///   card payment's merchant there), then the symbols that are set, each as `VS:…`, `KS:…`, `SS:…` — so a VS
///   stays findable in Flowpay by searching `VS:1234`. The merchant's own `column25` comment is not the
///   counterparty's text: it is only in the raw row.
/// - bank transaction code ← `column8` (type: `Platba kartou`, `Bezhotovostní příjem`, …).
/// - the source id ← `column22`, the movement id (ID pohybu): stable within the account, so the dedup key is
///   the id. `column17` (instruction id) and `column26` (BIC) are kept in the raw row.
/// Only a movement without a date or an amount cannot be read (it is set aside with its raw row, never lost).
enum FioMapping {
    /// The value of `columnN`, nil when the column is absent or `null` or its value is.
    static func column(_ json: [String: Any], _ number: Int) -> Any? {
        guard let cell = json["column\(number)"] as? [String: Any], let value = cell["value"], !(value is NSNull) else { return nil }
        return value
    }

    static func text(_ json: [String: Any], _ number: Int) -> String? {
        switch column(json, number) {
        case let text as String: text.trimmingCharacters(in: .whitespaces).isEmpty ? nil : text.trimmingCharacters(in: .whitespaces)
        case let number as NSNumber: decimalText(number)
        default: nil
        }
    }

    /// A JSON number as decimal text without passing through arithmetic: Swift prints a `Double` as the shortest
    /// text that reads back as the same value, i.e. the digits Fio sent (amounts have at most 15 significant digits).
    static func decimalText(_ number: NSNumber) -> String? {
        let value = number.doubleValue
        guard value.isFinite, abs(value) < 1e15 else { return nil }
        if value == value.rounded() { return "\(Int64(value))" }
        let text = "\(value)"
        return text.contains("e") ? nil : text
    }

    /// `2026-11-03+0100` → 2026-11-03.
    static func day(_ text: String?) -> Day? {
        guard let text, text.count >= 10 else { return nil }
        return Day(iso: text.prefix(10))
    }

    /// One movement; throws `.malformed` naming the column for a movement that cannot be read.
    static func transaction(_ json: [String: Any], index: Int, account: String, accountCurrency: String?) throws(SourceError) -> BankTransaction {
        let place = "transactionList.transaction[\(index)]"
        guard let dateText = text(json, 0) else { throw .malformed(account: account, field: "\(place).column0", detail: "no date") }
        guard let booked = day(dateText) else {
            throw .malformed(account: account, field: "\(place).column0", detail: "expected YYYY-MM-DD+zone, got \(dateText)")
        }
        guard let amountText = text(json, 1) else { throw .malformed(account: account, field: "\(place).column1", detail: "no amount") }
        guard let currency = text(json, 14) ?? accountCurrency else {
            throw .malformed(account: account, field: "\(place).column14", detail: "no currency, and the account's is unknown")
        }
        let amount: Money
        do { amount = try Money(parsing: amountText, currencyCode: currency) } catch {
            throw .malformed(account: account, field: "\(place).column1", detail: error.description)
        }
        var parts: [String] = []
        if let message = text(json, 16) ?? text(json, 7) { parts.append(message) }
        for (label, number) in [("VS", 5), ("KS", 4), ("SS", 6)] {
            if let symbol = text(json, number) { parts.append("\(label):\(symbol)") }
        }
        let raw = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        var transaction = BankTransaction(status: .booked, bookingDate: booked, valueDate: nil, amount: amount,
                                          counterpartyIBAN: counterparty(number: text(json, 2), bankCode: text(json, 3)),
                                          counterpartyName: text(json, 10), remittance: parts.isEmpty ? nil : parts.joined(separator: " "),
                                          bankTransactionCode: text(json, 8), sourceID: text(json, 22), rawJSON: raw)
        transaction.mappingVersion = TransactionMapping.version
        return transaction
    }

    /// The counter-account as an IBAN where it can be one (see the type's comment).
    static func counterparty(number: String?, bankCode: String?) -> String? {
        guard let number else { return nil }
        if let first = number.first, first.isLetter { return number }   // an IBAN already
        guard let bankCode else { return number }
        return CzechIBAN.from(accountNumber: number, bankCode: bankCode) ?? "\(number)/\(bankCode)"
    }

    /// The account and its balances from `accountStatement.info`: the opening balance is the booked balance at the
    /// end of the day before `dateStart`, the closing one at the end of `dateEnd` (both `closingBooked`).
    static func account(_ info: [String: Any]) throws(SourceError) -> BankAccount {
        func string(_ key: String) -> String? {
            switch info[key] {
            case let text as String: text.isEmpty ? nil : text
            case let number as NSNumber: decimalText(number)
            default: nil
            }
        }
        guard let accountID = string("accountId") else { throw .malformed(account: nil, field: "accountStatement.info.accountId", detail: "missing") }
        let currency = string("currency")
        let iban = string("iban") ?? string("bankId").flatMap { CzechIBAN.from(accountNumber: accountID, bankCode: $0) }
        var account = BankAccount(sourceAccountID: accountID, iban: iban, bic: string("bic"), currency: currency, name: nil, product: "Fio")
        if let currency {
            var balances: [Balance] = []
            for (key, dateKey, shift) in [("openingBalance", "dateStart", -1), ("closingBalance", "dateEnd", 0)] {
                guard let text = string(key), let edge = Self.day(string(dateKey)) else { continue }
                do {
                    balances.append(Balance(kind: .closingBooked, amount: try Money(parsing: text, currencyCode: currency),
                                            referenceDate: edge.adding(days: shift)))
                } catch {
                    throw .malformed(account: accountID, field: "accountStatement.info.\(key)", detail: error.description)
                }
            }
            account.balances = balances
        }
        return account
    }

    /// A whole `transactions.json` answer: the account, and its movements (unreadable ones in `refused`).
    static func statement(_ bytes: [UInt8], refused: inout [RefusedRow]) throws(SourceError) -> (account: BankAccount, transactions: [BankTransaction]) {
        let root = try JSONShape.object(bytes, account: nil, what: "transactions.json")
        guard let statement = root["accountStatement"] as? [String: Any], let info = statement["info"] as? [String: Any] else {
            throw .malformed(account: nil, field: "accountStatement.info", detail: "missing")
        }
        let account = try account(info)
        let list = statement["transactionList"] as? [String: Any]
        // An empty period comes as `"transaction": []`, or without the list.
        let listed = list?["transaction"]
        guard let rows = listed as? [Any] ?? (listed == nil || listed is NSNull ? [] : nil) else {
            throw .malformed(account: account.sourceAccountID, field: "accountStatement.transactionList.transaction", detail: "expected an array")
        }
        var transactions: [BankTransaction] = []
        for (index, row) in rows.enumerated() {
            guard let json = row as? [String: Any] else {
                throw .malformed(account: account.sourceAccountID, field: "transactionList.transaction[\(index)]", detail: "expected an object")
            }
            do {
                transactions.append(try transaction(json, index: index, account: account.sourceAccountID, accountCurrency: account.currency))
            } catch {
                let raw = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                if case .malformed(_, let field, let detail) = error {
                    refused.append(RefusedRow(account: account.sourceAccountID, field: field, reason: detail, rawJSON: raw))
                } else {
                    throw error
                }
            }
        }
        return (account, transactions)
    }
}
