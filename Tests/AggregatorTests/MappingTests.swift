@testable import Aggregators
import BankSyncCore
import Foundation
import Testing

/// Dates and accounts as banks really send them.
@Suite struct MappingTests {
    func map(_ json: [String: Any]) throws -> BankTransaction {
        try BerlinGroupMapping.transaction(json, status: .booked, account: "acc", index: 0, idFields: ["transactionId"])
    }

    /// A balance's day: its referenceDate, else the date of lastChangeDateTime, else none (read today: display only).
    @Test func aBalanceIsDatedByReferenceDateElseLastChangeDateTimeElseNotAtAll() throws {
        let amount: [String: Any] = ["amount": "1250.00", "currency": "CZK"]
        let balances = try BerlinGroupMapping.balances([
            ["balanceAmount": amount, "balanceType": "closingBooked", "referenceDate": "2026-11-30"],
            ["balanceAmount": amount, "balanceType": "interimBooked", "lastChangeDateTime": "2026-12-01T16:20:00.123+01:00"],
            ["balanceAmount": amount, "balanceType": "openingBooked"],
        ], account: "acc")
        #expect(balances.map(\.datedBy) == [.referenceDate, .lastChangeDateTime, .fetched])
        #expect(balances[0].referenceDate == Day(iso: "2026-11-30") && balances[1].referenceDate == Day(iso: "2026-12-01"))
        #expect(balances.allSatisfy { $0.isBooked })
    }

    @Test func aBookingWithoutBookingDateTakesTheNextDateTheBankGave() throws {
        let amount: [String: Any] = ["amount": "-1.00", "currency": "EUR"]
        #expect(try map(["transactionAmount": amount, "bookingDateTime": "2026-11-20T23:10:00+01:00"]).bookingDate == Day(iso: "2026-11-20"))
        #expect(try map(["transactionAmount": amount, "valueDate": "2026-11-19"]).bookingDate == Day(iso: "2026-11-19"))
        #expect(try map(["transactionAmount": amount, "valueDateTime": "2026-11-18T08:00:00Z"]).bookingDate == Day(iso: "2026-11-18"))
        #expect(try map(["transactionAmount": amount, "bookingDate": "2026-11-17", "valueDate": "2026-11-16"]).bookingDate == Day(iso: "2026-11-17"))
        #expect(throws: SourceError.self) { try map(["transactionAmount": amount]) }
    }

    @Test func counterpartyAccountsWithoutAnIBANKeepWhatTheBankGave() throws {
        let amount: [String: Any] = ["amount": "-1.00", "currency": "CZK"]
        func counterparty(_ account: [String: Any]) throws -> String? {
            try map(["transactionAmount": amount, "bookingDate": "2026-11-20", "creditorAccount": account]).counterpartyIBAN
        }
        #expect(try counterparty(["iban": "CZ65 0800 0000 1920 0014 5399", "bban": "x"]) == "CZ6508000000192000145399")
        #expect(try counterparty(["bban": "123456789/0800"]) == "123456789/0800")
        #expect(try counterparty(["other": ["identification": "ACME-77"]]) == "ACME-77")
        #expect(try counterparty(["bban": "19-2000145399/0800"]) == "19-2000145399/0800", "a domestic prefix keeps its dash")
        #expect(try counterparty(["maskedPan": "123456xxxxxx1234"]) == "123456xxxxxx1234")
        let structured = try map(["transactionAmount": amount, "bookingDate": "2026-11-20", "remittanceInformationStructuredArray": ["RF18", "539007547034"]])
        #expect(structured.remittance == "RF18 539007547034")
    }
}
