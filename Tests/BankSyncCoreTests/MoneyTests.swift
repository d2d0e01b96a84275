import BankSyncCore
import PropertyBased
import Testing

@Suite struct MoneyTests {
    let czk = try! Currency(code: "CZK")
    let jpy = try! Currency(code: "JPY")
    let bhd = try! Currency(code: "BHD")

    @Test func parsesTheFormsAggregatorsSend() throws {
        #expect(try Money(parsing: "-1250.00", currency: czk).minorUnits == -125_000)
        #expect(try Money(parsing: "1250", currency: czk).minorUnits == 125_000)
        #expect(try Money(parsing: "+3.5", currency: czk).minorUnits == 350)
        #expect(try Money(parsing: " 0.01 ", currency: czk).minorUnits == 1)
        #expect(try Money(parsing: "-0", currency: czk).minorUnits == 0)
        #expect(try Money(parsing: "1250", currency: jpy).minorUnits == 1250)
        #expect(try Money(parsing: "1.234", currency: bhd).minorUnits == 1234)
        #expect(try Money(parsing: "12.500", currency: czk).minorUnits == 1250, "trailing zeros lose nothing")
        #expect(try Money(parsing: "12.5", currencyCode: "eur").currency.code == "EUR")
    }

    @Test func refusesInsteadOfRounding() {
        #expect(throws: MoneyError.tooManyFractionDigits("1.001", currency: "CZK", allowed: 2)) {
            try Money(parsing: "1.001", currency: czk)
        }
        #expect(throws: MoneyError.tooManyFractionDigits("5.5", currency: "JPY", allowed: 0)) {
            try Money(parsing: "5.5", currency: jpy)
        }
        for bad in ["", "-", "1.", ".5", "1,50", "1e3", "--1", "12a", "1.2.3", "NaN"] {
            #expect(throws: MoneyError.notADecimal(bad)) { try Money(parsing: bad, currency: czk) }
        }
        #expect(throws: MoneyError.outOfRange("92233720368547758.08")) {
            try Money(parsing: "92233720368547758.08", currency: czk)
        }
        #expect(throws: MoneyError.outOfRange("99999999999999999999999")) {
            try Money(parsing: "99999999999999999999999", currency: jpy)
        }
        #expect(throws: MoneyError.unknownCurrency("XYZ")) { try Currency(code: "XYZ") }
        #expect(throws: MoneyError.unknownCurrency("EURO")) { try Currency(code: "EURO") }
    }

    @Test func extremesOfInt64() throws {
        #expect(try Money(parsing: "92233720368547758.07", currency: czk).minorUnits == Int64.max)
        #expect(try Money(parsing: "-92233720368547758.08", currency: czk).minorUnits == Int64.min)
        #expect(Money(minorUnits: Int64.min, currency: czk).decimalString == "-92233720368547758.08")
    }

    @Test func formatsWithExactlyTheCurrencyDigits() {
        #expect(Money(minorUnits: -125_000, currency: czk).decimalString == "-1250.00")
        #expect(Money(minorUnits: 5, currency: czk).decimalString == "0.05")
        #expect(Money(minorUnits: -5, currency: czk).decimalString == "-0.05")
        #expect(Money(minorUnits: 1250, currency: jpy).decimalString == "1250")
        #expect(Money(minorUnits: 1, currency: bhd).decimalString == "0.001")
    }

    @Test func formattingAndParsingRoundTrip() async {
        let currencies = [czk, jpy, bhd]
        await propertyCheck(count: 500, input: Gen.int64(in: Int64.min...Int64.max), Gen.int(in: 0...2)) { minor, which in
            let money = Money(minorUnits: minor, currency: currencies[which])
            #expect((try? Money(parsing: money.decimalString, currency: money.currency)) == money)
        }
    }
}
