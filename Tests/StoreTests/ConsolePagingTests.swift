import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The ops console's keyset pages: the per-customer report and the interruptions, walked a few rows at a time,
/// give every row once, in the order of one big page, and filters select in SQL.
@Suite struct ConsolePagingTests {
    @Test func customerPagesWalkTheWholeReportWorstFirstWithoutRepeats() async throws {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
            var ids: [UUID] = []
            for index in 0..<7 {
                let id = UUID()
                ids.append(id)
                let customer = try store.addCustomer(flowpayCustomerID: id, merchantID: "page-\(index)", source: index == 6 ? .berlingroup : .gocardless,
                                                     sourceRef: "r-\(index)")
                // Registered at different times: the lag (since registration, never pulled) orders them.
                try store.connection.execute("UPDATE customers SET created_at = now() - make_interval(hours => $2) WHERE id = $1",
                                             [customer, index])
                if index % 3 == 0 {
                    try store.recordEvent(customerID: customer, runID: nil, level: .warning, code: "bank_unavailable", message: "the bank said 503")
                }
            }
            _ = try await store.setCustomerPaused(flowpayCustomerID: ids[1], paused: true, by: "alice", reason: "closing")

            let whole = try store.lagReportPage(LagPage(limit: 100))
            #expect(Set(whole.map(\.row.flowpayCustomerID)) == Set(try store.lagReport().map(\.flowpayCustomerID)))
            #expect(whole.first?.row.flowpayCustomerID == ids[1], "paused first")
            #expect(whole.prefix(4).dropFirst().map(\.row.status) == ["bank_unavailable", "bank_unavailable", "bank_unavailable"])
            #expect(whole.prefix(4).dropFirst().map(\.row.merchantID) == ["page-6", "page-3", "page-0"], "then the failing ones, longest lag first")

            var walked: [UUID] = []
            var after: LagPageKey?
            var pages = 0
            repeat {
                let page = try store.lagReportPage(LagPage(after: after, limit: 2))
                if pages == 1 { #expect(Set(page.map(\.row.flowpayCustomerID)).isDisjoint(with: walked), "the second page differs from the first") }
                walked += page.map(\.row.flowpayCustomerID)
                after = page.count == 2 ? page.last?.key : nil
                pages += 1
            } while after != nil
            #expect(walked == whole.map(\.row.flowpayCustomerID))
            #expect(pages == 4)
            #expect(LagPageKey(text: whole[2].key.text) == whole[2].key)

            #expect(try store.lagReportPage(LagPage(limit: 10, status: "paused")).map(\.row.flowpayCustomerID) == [ids[1]])
            #expect(try store.lagReportPage(LagPage(limit: 10, source: "berlingroup")).map(\.row.merchantID) == ["page-6"])
            #expect(try store.lagReportPage(LagPage(limit: 10, text: "PAGE-4")).map(\.row.merchantID) == ["page-4"])
            #expect(try store.lagReportPage(LagPage(limit: 10, text: "page_%")).isEmpty, "LIKE wildcards in the text are literal")
            let byID = try store.lagReportPage(LagPage(limit: 10, text: String(ids[5].uuidString.lowercased().prefix(13))))
            #expect(byID.map(\.row.flowpayCustomerID) == [ids[5]])
        }
    }

    @Test func interruptionPagesGiveEveryCustomerOnce() async throws {
        try await TestDatabase.with { database in
            let store = Store(connection: try database.connect())
            _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
            for index in 0..<5 {
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "int-\(index)", source: .gocardless, sourceRef: "r-\(index)")
                try store.recordEvent(customerID: customer, runID: nil, level: .error, code: index < 3 ? "bank_unavailable" : "consent_expired",
                                      message: "problem \(index)")
            }
            let all = try store.interruptions()
            #expect(all.flatMap(\.customers).count == 5)
            let first = try store.interruptions(after: nil, limit: 2)
            let afterFirst: InterruptionPageKey = try #require(first.next)
            let second = try store.interruptions(after: afterFirst, limit: 2)
            let afterSecond: InterruptionPageKey = try #require(second.next)
            let third = try store.interruptions(after: afterSecond, limit: 2)
            #expect(third.next == nil)
            let pages = [first, second, third].map { $0.interruptions.flatMap(\.customers).map(\.flowpayCustomerID) }
            #expect(pages.map(\.count) == [2, 2, 1])
            #expect(Set(pages[0]).isDisjoint(with: pages[1]))
            #expect(Set(pages.joined()) == Set(all.flatMap(\.customers).map(\.flowpayCustomerID)))
            #expect(InterruptionPageKey(text: try #require(first.next).text) == first.next)
        }
    }
}
