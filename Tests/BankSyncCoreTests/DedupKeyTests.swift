import BankSyncCore
import Testing

@Suite struct DedupKeyTests {
    let czk = try! Currency(code: "CZK")

    func coffee(remittance: String = "Kavárna  Slavia", name: String? = "Café Slavia") -> BankTransaction {
        BankTransaction(status: .booked, bookingDate: Day(iso: "2026-11-24"), valueDate: Day(iso: "2026-11-24"),
                        amount: try! Money(parsing: "-89.00", currency: czk), counterpartyIBAN: "cz65 0800 0000 1920 0014 5399",
                        counterpartyName: name, remittance: remittance)
    }

    @Test func normalisationMakesEquivalentTextEqual() {
        let composed = coffee(remittance: "Kav\u{E1}rna Slavia")
        let decomposed = coffee(remittance: " Kava\u{301}rna\t\nSlavia ")
        #expect(DedupKey.fingerprint(composed) == DedupKey.fingerprint(decomposed))
        #expect(composed.counterpartyIBAN == "CZ6508000000192000145399")
    }

    @Test func anyBookedFieldChangesTheFingerprint() {
        let base = DedupKey.fingerprint(coffee())
        var other = coffee(); other.valueDate = Day(iso: "2026-11-25")
        #expect(DedupKey.fingerprint(other) != base)
        other = coffee(); other.amount = try! Money(parsing: "-89.01", currency: czk)
        #expect(DedupKey.fingerprint(other) != base)
        other = coffee(); other.status = .pending
        #expect(DedupKey.fingerprint(other) != base)
        #expect(DedupKey.fingerprint(coffee(name: "Cafe Slavia")) != base)
        other = coffee(); other.rawJSON = "{\"different\":true}"; other.sourceID = "abc"
        #expect(DedupKey.fingerprint(other) == base, "raw JSON and unstable ids are not part of the fingerprint")
    }

    @Test func identicalTwinsGetDistinctKeysByOrdinal() {
        let fingerprint = DedupKey.fingerprint(coffee())
        #expect(DedupKey.withOrdinal(fingerprint, ordinal: 1) != DedupKey.withOrdinal(fingerprint, ordinal: 2))
        #expect(DedupKey.withOrdinal(fingerprint, ordinal: 1).count == 32)
    }

    @Test func stableSourceIDsWinOnlyWhenDeclaredStable() {
        var transaction = coffee()
        transaction.sourceID = "2026112400012"
        let stable = DedupKey.base(for: transaction, sourceIDsAreStable: true)
        #expect(!stable.needsOrdinal)
        let unstable = DedupKey.base(for: transaction, sourceIDsAreStable: false)
        #expect(unstable.needsOrdinal)
        #expect(unstable.bytes == DedupKey.fingerprint(transaction))
        transaction.sourceID = nil
        #expect(DedupKey.base(for: transaction, sourceIDsAreStable: true).needsOrdinal, "no id: fall back to the fingerprint")
    }

    /// The documented byte string, hashed by Python's hashlib: stored keys must never change under a refactor.
    @Test func theFingerprintIsTheDocumentedByteString() {
        #expect(DedupKey.hex(DedupKey.fingerprint(coffee())) == "b188067c4c1804d5e9db40eddffca8cd2fdc078936d64819d0e9edb8c6ccec35")
    }
}
