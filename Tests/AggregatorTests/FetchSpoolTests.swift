import BankSyncCore
import Foundation
@testable import SyncEngine
import Testing

/// A fetched window is held aside until the fetch has ended; past the memory limit it spills to a file and
/// reads back exactly, every field.
@Suite struct FetchSpoolTests {
    static func transaction(_ index: Int) -> BankTransaction {
        let czk = try! Currency(code: index % 3 == 0 ? "EUR" : "CZK")
        var transaction = BankTransaction(status: index % 5 == 0 ? .pending : .booked,
                                          bookingDate: index % 7 == 0 ? nil : Day(daysSinceEpoch: index - 400),
                                          valueDate: index % 2 == 0 ? Day(daysSinceEpoch: -index) : nil,
                                          amount: Money(minorUnits: Int64(index) * (index % 2 == 0 ? -12_345 : 99), currency: czk))
        transaction.counterpartyIBAN = index % 4 == 0 ? nil : "CZ65 0800 \(index)"
        transaction.counterpartyName = "Kavárna Slavia č. \(index) ☕"
        transaction.remittance = index % 3 == 0 ? nil : String(repeating: "x", count: index % 300)
        transaction.bankTransactionCode = "PMNT-ICDT-ESCT"
        transaction.sourceID = index % 6 == 0 ? nil : "id-\(index)"
        transaction.rawJSON = #"{"n":\#(index)}"#
        return transaction
    }

    @Test(arguments: [0, 3, 50, 10_000])
    func everyRowReadsBackInOrder(memoryRows: Int) async throws {
        let all = (0..<2_345).map(Self.transaction)
        let pages = stride(from: 0, to: all.count, by: 333).map { Array(all[$0..<min($0 + 333, all.count)]) }
        let source = AsyncThrowingStream<[BankTransaction], any Error> { continuation in
            for page in pages { continuation.yield(page) }
            continuation.finish()
        }
        let spool = try await FetchSpool.filled(from: source, memoryRows: memoryRows)
        #expect(spool.count == all.count)
        var read: [BankTransaction] = []
        for try await page in spool.pages(size: 1_000) {
            #expect(page.count <= 1_000)
            read += page
        }
        #expect(read == all)
    }

    @Test func aFailedFetchThrowsAndKeepsNothing() async throws {
        struct Broken: Error {}
        let source = AsyncThrowingStream<[BankTransaction], any Error> { continuation in
            continuation.yield([Self.transaction(1)])
            continuation.finish(throwing: Broken())
        }
        await #expect(throws: Broken.self) { _ = try await FetchSpool.filled(from: source, memoryRows: 0) }
    }
}
