import BankSyncCore
import Testing

@Suite struct SyncWindowTests {
    let today = Day(iso: "2026-11-25")!

    @Test func firstSyncCoversTheCustomersHistory() {
        let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730)
        #expect(window.isFirstSync)
        #expect(window.from == today.adding(days: -730))
        #expect(window.to == today)
        #expect(window.cappedAtDays == nil)
    }

    @Test func theSourceCapsHistoryAndTheCapIsRecorded() {
        let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730, sourceMaxHistoryDays: 90)
        #expect(window.from == today.adding(days: -90))
        #expect(window.cappedAtDays == 90)
    }

    @Test func historyIsClampedTo90Through730() {
        #expect(SyncWindow.next(today: today, bookedThrough: nil, historyDays: 10).from == today.adding(days: -90))
        #expect(SyncWindow.next(today: today, bookedThrough: nil, historyDays: 5000).from == today.adding(days: -730))
    }

    @Test func laterSyncsReReadTheOverlap() {
        let window = SyncWindow.next(today: today, bookedThrough: today.adding(days: -1), historyDays: 730)
        #expect(!window.isFirstSync)
        #expect(window.from == today.adding(days: -8))
        let custom = SyncWindow.next(today: today, bookedThrough: today, historyDays: 730, overlapDays: 3)
        #expect(custom.from == today.adding(days: -3))
    }

    @Test func aLongOutageNeverReachesBeyondTheHistory() {
        let window = SyncWindow.next(today: today, bookedThrough: today.adding(days: -400), historyDays: 90)
        #expect(window.from == today.adding(days: -90))
    }

    /// A long first sync comes in pieces, oldest first, covering every day once; other windows stay whole.
    @Test func aLongFirstSyncComesInPiecesOldestFirst() {
        let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730)
        let pieces = window.pieces(ofDays: 366)
        #expect(pieces.count == 2)
        #expect(pieces.first?.from == window.from && pieces.last?.to == window.to)
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $1.from == $0.to.adding(days: -6) }, "each reaches 7 days into the last")
        #expect(pieces.allSatisfy { !$0.isFirstSync && $0.dayCount <= 366 + 7 })
        #expect(window.pieces(ofDays: 30).count == 25)
        #expect(window.pieces(ofDays: 731) == [window])
        let daily = SyncWindow.next(today: today, bookedThrough: today.adding(days: -1), historyDays: 730)
        #expect(daily.pieces(ofDays: 3) == [daily])
    }
}
