import BankSyncCore
import Foundation

/// Every choice about Flowpay's partner API in one file: environments, paths, headers, body shapes and the
/// choices the contract leaves to us (marked "our choice"). The spec a partner receives at onboarding is a
/// change to this file only. Source: ../shared/contract/FLOWPAY.md.
public enum FlowpayContract {
    public enum Environment: String, Sendable, CaseIterable {
        case test, production

        public var apiURL: String {
            switch self {
            case .test: "https://api.test.my.flowpay.io"
            case .production: "https://api.my.flowpay.io"
            }
        }

        public var tokenURL: String {
            switch self {
            case .test: "https://flowpay-test.eu.auth0.com/oauth/token"
            case .production: "https://flowpay.eu.auth0.com/oauth/token"
            }
        }

        public var audience: String {
            switch self {
            case .test: "https://api.test.partner.flowpay.io"
            case .production: "https://api.partner.flowpay.io"
            }
        }
    }

    public static func bankAccountsPath(_ customer: UUID) -> String {
        "/partner-api/v1/customers/\(customer.uuidString.lowercased())/bank-accounts"
    }

    public static func bankTransactionsPath(_ customer: UUID) -> String {
        "/partner-api/v1/customers/\(customer.uuidString.lowercased())/bank-transactions"
    }

    public static func bankAccountsUpdatedPath(_ customer: UUID) -> String {
        "/partner-api/v1/customers/\(customer.uuidString.lowercased())/bank-accounts-updated"
    }

    /// A financing, read for a financing webhook (which names only the financing).
    public static func financingPath(_ financing: UUID) -> String {
        "/partner-api/v1/financings/\(financing.uuidString.lowercased())"
    }

    /// **Our choice**: the financing's field naming its customer (the contract names the call, not its shape).
    public static let financingCustomerField = "customerId"

    /// Our choice: at most this many transactions per POST.
    public static let maxTransactionsPerRequest = 1000
    /// Our choice: sent on every call so a receiver that honours it drops replays.
    public static let idempotencyKeyHeader = "Idempotency-Key"
    public static let requestIDHeader = "X-Request-ID"
    public static let signatureHeader = "x-flowpay-sig"
    public static let timestampHeader = "x-flowpay-ts"
    /// BIC field limit: a BIC11 is cut to its 8-character institution code.
    public static let bicLength = 8
    public static let ibanMaxLength = 34

    // MARK: bodies (our choice: bare JSON arrays; bank-accounts-updated has an empty body)

    /// `MerchantBankAccount`
    public struct Account: Sendable, Equatable {
        public var iban: String
        public var bic: String
        public var name: String?
        public var ownerName: String?
        public var balances: [AccountBalance]
        /// PULL only (the push body has no such field): whether the bank's booked balances agree with the bookings.
        public var reconciliation: AccountReconciliation?

        public init(iban: String, bic: String, name: String?, ownerName: String?, balances: [AccountBalance]) {
            self.iban = iban
            self.bic = String(bic.prefix(FlowpayContract.bicLength))
            self.name = name
            self.ownerName = ownerName
            self.balances = balances
        }
    }

    /// An account's reconciliation against the bank's booked balances, as the PULL bank-accounts feed carries it
    /// (our addition, documented in /openapi.yaml): `state` is reconciled, waiting, mismatch or not_reconcilable.
    public struct AccountReconciliation: Sendable, Equatable {
        public var state: String
        public var detail: String?
        public var reconciledThrough: Day?
        public var differenceFrom: Day?
        public var differenceTo: Day?
        public var difference: Money?

        public init(state: String, detail: String?, reconciledThrough: Day?, differenceFrom: Day?, differenceTo: Day?, difference: Money?) {
            self.state = state
            self.detail = detail
            self.reconciledThrough = reconciledThrough
            self.differenceFrom = differenceFrom
            self.differenceTo = differenceTo
            self.difference = difference
        }
    }

    /// `MerchantBankAccountBalance`; `type` carries the Berlin Group balance type.
    public struct AccountBalance: Sendable, Equatable {
        public var amount: Money
        public var type: String
        public var referenceDate: Day

        public init(amount: Money, type: String, referenceDate: Day) {
            self.amount = amount
            self.type = type
            self.referenceDate = referenceDate
        }
    }

    /// `MerchantBankTransaction` — booked only. `amount` is signed (negative: money leaving the account,
    /// our choice following Berlin Group); `id` is BankSync's dedup key, identical on every resend.
    public struct Transaction: Sendable, Equatable {
        public var id: String
        public var iban: String
        public var bookingDate: Day
        public var valueDate: Day?
        public var amount: Money
        public var counterAccount: String?
        public var counterName: String?
        public var remittanceInfo: String?

        public init(id: String, iban: String, bookingDate: Day, valueDate: Day?, amount: Money,
                    counterAccount: String?, counterName: String?, remittanceInfo: String?) {
            self.id = id
            self.iban = iban
            self.bookingDate = bookingDate
            self.valueDate = valueDate
            self.amount = amount
            self.counterAccount = counterAccount
            self.counterName = counterName
            self.remittanceInfo = remittanceInfo
        }
    }

    /// JSON for the bank-accounts PUT. Amounts are written from minor units with exactly the currency's
    /// digits, never through a binary floating-point value; null fields are omitted.
    public static func encode(accounts: [Account]) -> [UInt8] {
        var json = JSONWriter()
        json.array(accounts) { json, account in
            json.object { object in
                object.string("iban", account.iban)
                object.string("bic", account.bic)
                object.string("name", account.name)
                object.string("ownerName", account.ownerName)
                object.array("balances", account.balances) { json, balance in
                    json.object { object in
                        object.string("currency", balance.amount.currency.code)
                        object.number("amount", balance.amount.decimalString)
                        object.string("type", balance.type)
                        object.string("referenceDate", balance.referenceDate.description)
                    }
                }
                if let reconciliation = account.reconciliation {
                    object.object("reconciliation") { object in
                        object.string("state", reconciliation.state)
                        object.string("detail", reconciliation.detail)
                        object.string("reconciledThrough", reconciliation.reconciledThrough?.description)
                        object.string("differenceFrom", reconciliation.differenceFrom?.description)
                        object.string("differenceTo", reconciliation.differenceTo?.description)
                        if let difference = reconciliation.difference {
                            object.number("difference", difference.decimalString)
                            object.string("currency", difference.currency.code)
                        }
                    }
                }
            }
        }
        return json.bytes
    }

    public static func encode(transactions: [Transaction]) -> [UInt8] {
        var json = JSONWriter()
        json.reserve(transactions.count * 320)
        json.array(transactions) { json, transaction in
            json.object { object in
                object.string("id", transaction.id)
                object.string("iban", transaction.iban)
                object.string("currency", transaction.amount.currency.code)
                object.string("bookingDate", transaction.bookingDate.description)
                object.string("valueDate", transaction.valueDate?.description)
                object.number("amount", transaction.amount.decimalString)
                object.string("counterAccount", transaction.counterAccount)
                object.string("counterName", transaction.counterName)
                object.string("remittanceInfo", transaction.remittanceInfo)
            }
        }
        return json.bytes
    }

    /// The error envelope of every non-2xx answer.
    public struct ErrorEnvelope: Codable, Sendable, Equatable {
        public struct Embedded: Codable, Sendable, Equatable {
            /// One error. `path` is optional (Flowpay's envelope is Micronaut's vnd.error, whose errors may carry
            /// the JSON pointer of what they are about, e.g. `/3/counterName`).
            public struct Message: Codable, Sendable, Equatable {
                public var message: String
                public var path: String?
            }
            public var errors: [Message]?
        }
        public struct Links: Codable, Sendable, Equatable {
            public struct Link: Codable, Sendable, Equatable {
                public var href: String
                public var templated: Bool?
            }
            public var `self`: Link?
        }

        public var message: String?
        public var logref: String?
        public var _embedded: Embedded?
        public var _links: Links?

        public init(message: String, logref: String, errors: [String], path: String) {
            self.message = message
            self.logref = logref
            _embedded = Embedded(errors: errors.map { Embedded.Message(message: $0, path: nil) })
            _links = Links(self: Links.Link(href: path, templated: false))
        }
    }
}
