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
    /// The source's JSON for this transaction, kept verbatim for audits and for mapping it again.
    public var rawJSON: String?
    /// The version of the mapping that read `rawJSON` into these fields (`TransactionMapping.version`, Aggregators),
    /// stored with the row: rows of an older version are mapped again from their raw JSON and re-keyed.
    public var mappingVersion: Int64?

    public init(status: Status, bookingDate: Day?, valueDate: Day? = nil, amount: Money,
                counterpartyIBAN: String? = nil, counterpartyName: String? = nil, remittance: String? = nil,
                bankTransactionCode: String? = nil, sourceID: String? = nil, rawJSON: String? = nil) {
        self.status = status
        self.bookingDate = bookingDate
        self.valueDate = valueDate
        self.amount = amount
        self.counterpartyIBAN = Normalization.accountIdentifier(counterpartyIBAN)
        self.counterpartyName = Normalization.text(counterpartyName)
        self.remittance = Normalization.text(remittance)
        self.bankTransactionCode = Normalization.text(bankTransactionCode)
        let id = sourceID.map { $0.contains("\u{0}") ? $0.replacingOccurrences(of: "\u{0}", with: "") : $0 }
        self.sourceID = id.flatMap { $0.isEmpty ? nil : $0 }
        // jsonb refuses the \u0000 escape: the audit copy loses the NUL, as the stored fields do.
        self.rawJSON = rawJSON.map { Self.hasNULEscape($0) ? Self.removingNULEscapes($0) : $0 }
    }

    /// The day the transaction belongs to for windows and ordinals: booking date, else value date.
    public var day: Day? { bookingDate ?? valueDate }

    /// JSON text without its `\u0000` escapes. Escapes are read pairwise from each backslash, so an escaped
    /// backslash followed by the text `u0000` (`\\u0000`) is kept as it is.
    static func removingNULEscapes(_ json: String) -> String {
        let bytes = Array(json.utf8)
        let nul = Array("u0000".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                output.append(byte)
                index += 1
                continue
            }
            if index + 6 <= bytes.count, Array(bytes[index + 1 ..< index + 6]) == nul {
                index += 6
                continue
            }
            output.append(byte)
            output.append(bytes[index + 1])
            index += 2
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Whether JSON text may hold the escape `\u0000` (a byte scan: this runs for every fetched row). Over the
    /// string's contiguous UTF-8, each byte compared with a backslash first: iterating the UTF-8 view against a
    /// pattern array was ~2% of a backfilling worker's CPU (`perf`, docs/WHERE-THE-TIME-GOES.md).
    static func hasNULEscape(_ json: String) -> Bool {
        var json = json
        return json.withUTF8 { bytes in
            guard bytes.count >= 6 else { return false }
            var index = 0
            while index <= bytes.count - 6 {
                if bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == UInt8(ascii: "0"),
                   bytes[index + 3] == UInt8(ascii: "0"), bytes[index + 4] == UInt8(ascii: "0"), bytes[index + 5] == UInt8(ascii: "0") {
                    return true
                }
                index += 1
            }
            return false
        }
    }
}
