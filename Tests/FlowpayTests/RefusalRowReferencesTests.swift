import Flowpay
import Testing

/// Which rows a refusal's `_embedded.errors` name, in the forms Flowpay's (Micronaut's) validation writes them.
@Suite struct RefusalRowReferencesTests {
    let ids = ["bs_aaaa", "bs_bbbb", "bs_cccc", "bs_dddd"]

    @Test func positionsInPropertyPathsAndPointers() {
        let read = RefusalRowReferences([
            .init(message: "[2].counterName: exceeds the maximum length"),
            .init(message: "dto[0].iban: must not be null"),
            .init(message: "must be a number", path: "/3/amount"),
            .init(message: "create.transactions[1].bookingDate: is in the future"),
        ], ids: ids)
        #expect(read == RefusalRowReferences(positions: [0, 1, 2, 3]))
    }

    @Test func idsQuotedInTheMessage() {
        let read = RefusalRowReferences([.init(message: "transaction bs_cccc has a counterName over the maximum length")], ids: ids)
        #expect(read == RefusalRowReferences(positions: [2]))
    }

    @Test func errorsNamingNoRowAreTheCustomers() {
        let read = RefusalRowReferences([
            .init(message: "customer: service not activated"),
            .init(message: "bankAccount.iban: CZ6508000000192000145399 is unknown for this customer"),
            .init(message: "Idempotency [3] keys: a note with brackets in free text"),
        ], ids: ids)
        #expect(read == RefusalRowReferences(unnamedErrors: 3))
    }

    @Test func anIndexPastTheRequestIsUnresolved() {
        let read = RefusalRowReferences([.init(message: "[9].amount: must be a number"), .init(message: "x", path: "/1/iban")], ids: ids)
        #expect(read == RefusalRowReferences(positions: [1], unresolvedErrors: 1))
    }
}
