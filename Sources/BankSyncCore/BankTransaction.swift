/// One transaction as a source reports it, normalised; booked ones are what Flowpay receives.
public struct BankTransaction: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case booked, pending
    }

    public var status: Status
    public var bookingDate: Day?
    public var valueDate: Day?
    /// Signed: negative for money leaving the account.
    public var amount: Money
    /// The other party: the creditor of an outgoing payment, the debtor of an incoming one.
    public var counterpartyIBAN: String?
    public var counterpartyName: String?
    /// Unstructured remittance text (array parts joined with a space).
    public var remittance: String?
    /// Bank transaction code (ISO 20022 domain/family/subfamily or the bank's proprietary code).
    public var bankTransactionCode: String?
    /// The source's own id for this transaction, when it has one (used as dedup key if the source's ids are stable).
    public var sourceID: String?
    /// The source's JSON for this transaction, kept verbatim for audits.
    public var rawJSON: String?

    public init(status: Status, bookingDate: Day?, valueDate: Day? = nil, amount: Money,
                counterpartyIBAN: String? = nil, counterpartyName: String? = nil, remittance: String? = nil,
                bankTransactionCode: String? = nil, sourceID: String? = nil, rawJSON: String? = nil) {
        self.status = status
        self.bookingDate = bookingDate
        self.valueDate = valueDate
        self.amount = amount
        self.counterpartyIBAN = Normalization.iban(counterpartyIBAN)
        self.counterpartyName = Normalization.text(counterpartyName)
        self.remittance = Normalization.text(remittance)
        self.bankTransactionCode = Normalization.text(bankTransactionCode)
        self.sourceID = sourceID.flatMap { $0.isEmpty ? nil : $0 }
        self.rawJSON = rawJSON
    }

    /// The day the transaction belongs to for windows and ordinals: booking date, else value date.
    public var day: Day? { bookingDate ?? valueDate }
}
