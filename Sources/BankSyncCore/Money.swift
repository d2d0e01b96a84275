/// An exact amount: integer minor units of one currency. Never a binary floating-point value.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Parses the decimal strings aggregators send: `"-1250.00"`, `"1250"`, `"+3.5"`.
    ///
    /// Exact or an error: more significant fraction digits than the currency has, exponents, or an amount
    /// beyond Int64 minor units are refused, never rounded. Extra fraction digits that are all zero
    /// (`"12.500"` in EUR) lose nothing and are accepted.
    public init(parsing text: some StringProtocol, currency: Currency) throws(MoneyError) {
        let input = String(text)
        var bytes = Substring(input.trimmingWhitespace()).utf8[...]
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var integerDigits = 0
        var fractionDigits = 0
        var sawPoint = false
        var magnitude: UInt64 = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard !sawPoint, integerDigits > 0 else { throw .notADecimal(input) }
                sawPoint = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw .notADecimal(input) }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            if sawPoint {
                fractionDigits += 1
                if fractionDigits > currency.exponent {
                    guard digit == 0 else { throw .tooManyFractionDigits(input, currency: currency.code, allowed: currency.exponent) }
                    continue
                }
            } else {
                integerDigits += 1
            }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw .outOfRange(input) }
            magnitude = sum
        }
        guard integerDigits > 0, !(sawPoint && fractionDigits == 0) else { throw .notADecimal(input) }
        for _ in min(fractionDigits, currency.exponent)..<currency.exponent {
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            guard !overflow else { throw .outOfRange(input) }
            magnitude = times10
        }
        let limit = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        guard magnitude <= limit else { throw .outOfRange(input) }
        minorUnits = negative ? (magnitude == limit ? Int64.min : -Int64(magnitude)) : Int64(magnitude)
        self.currency = currency
    }

    public init(parsing text: some StringProtocol, currencyCode: some StringProtocol) throws(MoneyError) {
        try self.init(parsing: text, currency: try Currency(code: currencyCode))
    }

    /// The contract's decimal form: sign for negatives only, exactly `exponent` fraction digits (`-1250.00`).
    public var decimalString: String {
        let magnitude = minorUnits.magnitude
        let sign = minorUnits < 0 ? "-" : ""
        guard currency.exponent > 0 else { return sign + String(magnitude) }
        var divisor: UInt64 = 1
        for _ in 0..<currency.exponent { divisor *= 10 }
        let fraction = String(magnitude % divisor)
        return sign + String(magnitude / divisor) + "." + String(repeating: "0", count: currency.exponent - fraction.count) + fraction
    }

    public var description: String { decimalString + " " + currency.code }
}

public enum MoneyError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownCurrency(String)
    case notADecimal(String)
    case tooManyFractionDigits(String, currency: String, allowed: Int)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .unknownCurrency(let code): "unknown ISO 4217 currency '\(code)'"
        case .notADecimal(let text): "'\(text)' is not a decimal amount"
        case .tooManyFractionDigits(let text, let currency, let allowed):
            "'\(text)' has more fraction digits than \(currency) allows (\(allowed)); refusing to round"
        case .outOfRange(let text): "'\(text)' is too large to store exactly"
        }
    }
}

extension String {
    func trimmingWhitespace() -> Substring {
        var slice = self[...]
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return slice
    }
}
