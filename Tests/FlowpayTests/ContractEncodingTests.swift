import BankSyncCore
import Flowpay
import Foundation
import Testing

@Suite struct ContractEncodingTests {
    @Test func transactionsKeepExactDigitsAndOmitNulls() throws {
        let czk = try Currency(code: "CZK")
        let body = FlowpayContract.encode(transactions: [
            .init(id: "bs_1", iban: "CZ6508000000192000145399", bookingDate: Day(iso: "2026-11-24")!, valueDate: nil,
                  amount: Money(minorUnits: -125_000, currency: czk), counterAccount: nil, counterName: "ČEZ \"a.s.\"",
                  remittanceInfo: "Záloha\telektřina"),
        ])
        let text = String(decoding: body, as: UTF8.self)
        #expect(text == #"[{"id":"bs_1","iban":"CZ6508000000192000145399","currency":"CZK","bookingDate":"2026-11-24","amount":-1250.00,"counterName":"ČEZ \"a.s.\"","remittanceInfo":"Záloha\telektřina"}]"#)
        #expect((try JSONSerialization.jsonObject(with: Data(body)) as? [Any])?.count == 1)
    }

    @Test func accountsCutABIC11ToEightCharacters() throws {
        let eur = try Currency(code: "EUR")
        let body = FlowpayContract.encode(accounts: [
            .init(iban: "DE89370400440532013000", bic: "COBADEFFXXX", name: nil, ownerName: "ACME GmbH",
                  balances: [.init(amount: Money(minorUnits: 5, currency: eur), type: "closingBooked", referenceDate: Day(iso: "2026-11-24")!)]),
        ])
        #expect(String(decoding: body, as: UTF8.self) == #"[{"iban":"DE89370400440532013000","bic":"COBADEFF","ownerName":"ACME GmbH","balances":[{"currency":"EUR","amount":0.05,"type":"closingBooked","referenceDate":"2026-11-24"}]}]"#)
    }

    @Test func retryAfterInSecondsOrAsADate() {
        #expect(RetryPolicy.retryAfter("3") == .seconds(3))
        let now = Date(timeIntervalSince1970: 1_764_045_000)
        let later = RetryPolicy.retryAfter("Tue, 25 Nov 2025 04:30:10 GMT", now: now)
        #expect(later == .milliseconds(10_000))
        #expect(RetryPolicy.retryAfter("soon") == nil)
        #expect(RetryPolicy.isRetryable(status: 503) && RetryPolicy.isRetryable(status: 429) && RetryPolicy.isRetryable(status: 408))
        #expect(!RetryPolicy.isRetryable(status: 422) && !RetryPolicy.isRetryable(status: 400))
    }
}
