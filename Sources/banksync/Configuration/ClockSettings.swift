import BankSyncCore
import Foundation

/// The calendar day the worker treats as today. Normally the real UTC date; `BANKSYNC_TODAY=YYYY-MM-DD`
/// fixes it, so an incident can be replayed as of a given day and the tests give the same verdict on
/// every day of the year (the sandboxes read the same setting).
struct ClockSettings {
    static let variable = "BANKSYNC_TODAY"

    let fixedToday: Day?

    var today: Day { fixedToday ?? Day(utcSecondsSince1970: Date().timeIntervalSince1970) }

    static func load(_ environment: Environment = Environment()) throws -> ClockSettings {
        guard let text = environment.value(variable) else { return ClockSettings(fixedToday: nil) }
        guard text.utf8.count == 10, let day = Day(iso: text) else {
            throw ConfigError(setting: variable, problem: "'\(text)' is not a date like 2028-02-29")
        }
        return ClockSettings(fixedToday: day)
    }
}
