/// One line of `banksync doctor`: a check's name, its outcome and, when it did not pass, how to fix it.
struct DoctorCheck: Sendable {
    enum Outcome: Sendable {
        case passed
        /// Works today but needs attention soon (a certificate close to its expiry); never fails the run.
        case warning
        case failed
        /// Not needed by what is configured (no GoCardless customers, no links).
        case skipped
    }

    let name: String
    let outcome: Outcome
    let detail: String
    var fix: String?

    static func passed(_ name: String, _ detail: String) -> DoctorCheck { DoctorCheck(name: name, outcome: .passed, detail: detail) }
    static func skipped(_ name: String, _ detail: String) -> DoctorCheck { DoctorCheck(name: name, outcome: .skipped, detail: detail) }
    static func warning(_ name: String, _ detail: String, fix: String) -> DoctorCheck {
        DoctorCheck(name: name, outcome: .warning, detail: detail, fix: fix)
    }
    static func failed(_ name: String, _ detail: String, fix: String) -> DoctorCheck {
        DoctorCheck(name: name, outcome: .failed, detail: detail, fix: fix)
    }

    var line: String {
        let mark = switch outcome {
        case .passed: "✓"
        case .warning: "!"
        case .failed: "✗"
        case .skipped: "-"
        }
        return "\(mark) \(name): \(detail)" + (fix.map { " (fix: \($0))" } ?? "")
    }
}
