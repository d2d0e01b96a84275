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
}
