import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// What the ops console shows of the banks' read limits: a Berlin Group consent's reads left today, counted per
/// account and day, and a Fio token's next allowed call.
@Suite struct ReadAllowanceTests {
    @Test func berlinGroupReadsAreCountedPerAccountAndDayAndFioShowsItsNextCall() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            try store.connection.execute("UPDATE customers SET source = 'berlingroup' WHERE id = $1", [fixture.account.customerID])
            let customer = try #require(try store.customer(id: fixture.account.customerID)).customer.flowpayCustomerID
            let today = try store.connection.queryValue(Day.self, "SELECT (now() AT TIME ZONE 'UTC')::date")
            #expect(try store.readAllowance(flowpayCustomerID: customer) == ReadAllowance(readsLeftToday: ReadBudget.berlinGroupReadsPerDay))
            try store.noteAccountRead(accountID: fixture.account.id, on: today.adding(days: -1))
            for _ in 0..<3 { try store.noteAccountRead(accountID: fixture.account.id, on: today) }
            #expect(try store.readAllowance(flowpayCustomerID: customer)?.readsLeftToday == 1, "yesterday's read does not count today")
            try store.noteAccountRead(accountID: fixture.account.id, on: today)
            let spent = try #require(try store.readAllowance(flowpayCustomerID: customer))
            #expect(spent.readsLeftToday == 0)
            #expect(spent.nextReadAllowed.map { Day(utcSecondsSince1970: $0.timeIntervalSince1970) } == today.adding(days: 1))
            #expect(spent.why?.contains("none is left today") == true)

            let fio = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "fio-m", source: .fio, sourceRef: "t")
            try store.connection.execute("INSERT INTO customer_secrets (customer_id, sealed) VALUES ($1, '\\x00'::bytea)", [fio])
            try store.noteFioTokenKey(customerID: fio, tokenKey: "fio:abc")
            #expect(try store.claimFioCall(tokenKey: "fio:abc", interval: .seconds(30)) == nil)
            let fioID = try #require(try store.customer(id: fio)).customer.flowpayCustomerID
            let next = try #require(try store.readAllowance(flowpayCustomerID: fioID))
            #expect(next.readsLeftToday == nil)
            #expect(next.why == "Fio allows one call per token every 30 s")
            #expect(try #require(next.nextReadAllowed).timeIntervalSinceNow > 20)
        }
    }
}
