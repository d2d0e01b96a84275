import BankSyncCore
import Testing

/// The BIC an IBAN's bank code stands for, from the central banks' lists (CZ, SK).
@Suite struct BankCodeDirectoryTests {
    @Test(arguments: [
        ("CZ6508000000192000145399", "GIBACZPX"),   // Česká spořitelna
        ("CZ5527000000001234567890", "BACXCZPP"),   // UniCredit
        ("SK8975000000000012345671", "CEKOSKBX"),   // ČSOB Slovakia
        ("SK0809000000000123123123", "GIBASKBX"),   // Slovenská sporiteľňa
    ])
    func knownBankCodes(iban: String, bic: String) {
        #expect(BankCodeDirectory.bic(forIBAN: iban) == bic)
    }

    @Test func unknownCodesAndOtherCountriesHaveNone() {
        #expect(BankCodeDirectory.bic(forIBAN: "SK3112000000198742637541") == nil, "1200 is not in the NBS list")
        #expect(BankCodeDirectory.bic(forIBAN: "DE89370400440532013000") == nil)
        #expect(BankCodeDirectory.bic(forIBAN: "CZ65080000001920") == nil, "too short to be a Czech IBAN")
        #expect(BankCodeDirectory.bic(forIBAN: nil) == nil)
    }
}
