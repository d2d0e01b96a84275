import Store

/// The console's actions, each with the weakest role allowed to take it and the `banksync …` command that does
/// the same. Deletes and key management stay in the CLI.
public enum ConsoleAction: String, Sendable, CaseIterable {
    case syncNow = "sync-now"
    case createLink = "create-link"
    case releaseHeld = "release-held"
    case retryRefused = "retry-refused"
    case acknowledgeDifference = "acknowledge-difference"
    case deepRead = "deep-read"
    case mergeHeld = "merge-held"
    case pauseCustomer = "pause-customer"
    case resumeCustomer = "resume-customer"

    public var role: ConsoleRole {
        switch self {
        case .syncNow, .createLink, .releaseHeld, .retryRefused, .acknowledgeDifference, .deepRead: .operator
        case .mergeHeld, .pauseCustomer, .resumeCustomer: .approver
        }
    }

    /// Actions that cannot be undone need a ticked confirmation (a new renewal link ends the open one).
    var confirmation: String? {
        switch self {
        case .createLink: "The open renewal link stops working"
        case .pauseCustomer: "Stop syncing this customer until resumed"
        default: nil
        }
    }

    /// The confirmation checkbox's name in the form for `target`: unique on a page (several forms of one action
    /// sit on one list, and checkboxes sharing a name would read as one group).
    func confirmField(target: String) -> String {
        "confirm-\(rawValue)-" + String(target.map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    /// Actions that change what Flowpay gets or stop a customer need a reason in the audit log.
    var needsReason: Bool {
        switch self {
        case .syncNow, .createLink, .retryRefused, .deepRead: false
        case .releaseHeld, .mergeHeld, .acknowledgeDifference, .pauseCustomer, .resumeCustomer: true
        }
    }

    var title: String {
        switch self {
        case .syncNow: "Sync now"
        case .createLink: "Create a new renewal link"
        case .releaseHeld: "Release as a new booking"
        case .retryRefused: "Send again"
        case .acknowledgeDifference: "Acknowledge difference"
        case .deepRead: "Deep-read the account"
        case .mergeHeld: "Merge into the candidate"
        case .pauseCustomer: "Pause customer"
        case .resumeCustomer: "Resume customer"
        }
    }

    /// The field naming what the action is about.
    var targetField: String {
        switch self {
        case .syncNow, .createLink, .pauseCustomer, .resumeCustomer: "customer"
        case .releaseHeld, .mergeHeld: "held"
        case .retryRefused: "batch"
        case .acknowledgeDifference, .deepRead: "account"
        }
    }

    /// The CLI command that does the same (shell-quoted), or what stands in for it when the CLI has none.
    func command(target: String, reason: String?) -> String {
        let why = Self.quote(reason ?? "")
        let target = Self.quote(target)
        return switch self {
        case .syncNow: "banksync sync --customer \(target)"
        case .createLink: "banksync link --customer \(target) --source <its source>"
        case .releaseHeld: "banksync held release \(target) --reason \(why)"
        case .mergeHeld: "banksync held merge \(target) --reason \(why)"
        case .retryRefused: "banksync push --requeue-rejected --batch \(target)"
        case .acknowledgeDifference: "banksync reconciliation acknowledge --account \(target) --reason \(why)"
        case .deepRead: "banksync sync --customer <its customer> --rescan-days <days back>   # reads every account of the customer"
        case .pauseCustomer: "banksync customers pause \(target) --reason \(why)"
        case .resumeCustomer: "banksync customers resume \(target) --reason \(why)"
        }
    }

    /// Single-quoted for a POSIX shell.
    static func quote(_ text: String) -> String {
        if !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:/".contains($0) }), text.unicodeScalars.allSatisfy(\.isASCII) {
            return text
        }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
