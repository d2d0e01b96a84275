/// A bank account as a source reports it, normalised.
public struct BankAccount: Sendable, Equatable {
    /// The source's own id for the account (GoCardless account UUID, Berlin Group `resourceId`).
    public var sourceAccountID: String
    public var iban: String?
    public var bic: String?
    public var currency: String?
    public var name: String?
    public var product: String?
    public var ownerName: String?
    public var balances: [Balance]

    public init(sourceAccountID: String, iban: String? = nil, bic: String? = nil, currency: String? = nil,
                name: String? = nil, product: String? = nil, ownerName: String? = nil, balances: [Balance] = []) {
        self.sourceAccountID = sourceAccountID
        self.iban = Normalization.iban(iban)
        self.bic = bic.flatMap { Normalization.text($0)?.uppercased() }
        self.currency = currency?.uppercased()
        self.name = Normalization.text(name)
        self.product = Normalization.text(product)
        self.ownerName = Normalization.text(ownerName)
        self.balances = balances
    }
}

/// One balance of an account on a reference date, typed as Berlin Group types balances.
public struct Balance: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case closingBooked, expected, openingBooked, interimAvailable, interimBooked, forwardAvailable, nonInvoiced
    }

    /// Where `referenceDate` came from: a balance the bank did not date is kept for display, never reconciled.
    public enum DatedBy: String, Sendable, CaseIterable {
        case referenceDate, lastChangeDateTime
        /// The bank sent neither: the day it was read stands in.
        case fetched
    }

    public var kind: Kind
    public var amount: Money
    public var referenceDate: Day
    public var datedBy: DatedBy

    public init(kind: Kind, amount: Money, referenceDate: Day, datedBy: DatedBy = .referenceDate) {
        self.kind = kind
        self.amount = amount
        self.referenceDate = referenceDate
        self.datedBy = datedBy
    }

    /// The booked balance types: the only ones reconciliation uses (available and expected ones include
    /// credit lines, reservations and future bookings).
    public var isBooked: Bool { kind == .closingBooked || kind == .openingBooked || kind == .interimBooked }
}
