import BankSyncCore
import Foundation

/// The day the tests treat as today, and the awkward days the date-sensitive suites are also run on.
///
/// The sandboxes generate histories relative to "today", so a test that picks rows from them sees other rows
/// on another day. `BANKSYNC_TODAY=YYYY-MM-DD scripts/test` runs the whole suite as of that day (the worker
/// and the sandboxes read the same setting); unset, the suite runs on the real UTC date.
public enum TestCalendar {
    /// The fixed day from `BANKSYNC_TODAY`, when set.
    public static var fixedToday: Day? {
        ProcessInfo.processInfo.environment["BANKSYNC_TODAY"].flatMap { Day(iso: $0) }
    }

    public static var today: Day { fixedToday ?? Day(utcSecondsSince1970: Date().timeIntervalSince1970) }

    /// Month ends, a leap day, the day after a common February, a Monday after a weekend, New Year's Eve
    /// and New Year's Day.
    public static let awkwardDays: [Day] = [
        "2026-11-30", "2028-02-29", "2027-03-01", "2027-03-29", "2026-12-31", "2027-01-01", "2027-04-30",
    ].map { Day(iso: $0)! }
}

/// A number from a string that is the same in every process (`hashValue` is seeded per process).
public func stableNumber(_ text: String) -> Int {
    text.utf8.reduce(5381) { ($0 &* 33 &+ Int($1)) & 0x7fff_ffff }
}
