import BankSyncCore
import Testing

/// Czech domestic numbers to IBANs, on the examples the Czech National Bank and the banks publish.
@Suite struct CzechIBANTests {
    @Test(arguments: [
        ("19-2000145399", "0800", "CZ6508000000192000145399"),   // Česká spořitelna's example (ČNB, Wikipedia)
        ("178124-4159", "0710", "CZ6907101781240000004159"),     // the Czech National Bank's own account
        ("168540115", "0600", "CZ2806000000000168540115"),       // the Flowpay contract's example counterparty
        ("2000145399", "0800", "CZ7908000000002000145399"),      // no prefix
        ("000000-2000145399", "0800", "CZ7908000000002000145399"), // a zero prefix written out
    ])
    func knownAccounts(account: String, bank: String, iban: String) {
        #expect(CzechIBAN.from(accountNumber: account, bankCode: bank) == iban)
    }

    @Test func notCzechDomesticNumbers() {
        #expect(CzechIBAN.from(accountNumber: "1234567-2000145399", bankCode: "0800") == nil, "prefix longer than 6 digits")
        #expect(CzechIBAN.from(accountNumber: "12345678901", bankCode: "0800") == nil, "number longer than 10 digits")
        #expect(CzechIBAN.from(accountNumber: "2000145399", bankCode: "800") == nil, "bank code of 3 digits")
        #expect(CzechIBAN.from(accountNumber: "DE89370400440532013000", bankCode: "0800") == nil)
        #expect(CzechIBAN.from(accountNumber: "0", bankCode: "0800") == nil)
    }

    @Test func everyDerivedIBANPassesTheMod97Check() {
        for number in stride(from: 1, to: 9_999_999_999, by: 123_456_789) {
            let iban = CzechIBAN.from(accountNumber: "\(number % 1_000_000)-\(number)", bankCode: "2010")
            #expect(iban.map(Self.mod97) == 1)
        }
    }

    static func mod97(_ iban: String) -> Int {
        let moved = iban.dropFirst(4) + iban.prefix(4)
        var remainder = 0
        for character in moved {
            if let digit = character.wholeNumberValue { remainder = (remainder * 10 + digit) % 97 }
            else if let ascii = character.asciiValue { remainder = (remainder * 100 + Int(ascii) - 55) % 97 }
        }
        return remainder
    }
}
