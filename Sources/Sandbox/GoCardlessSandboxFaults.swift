import Foundation

/// An error answer a test switches on for one account's endpoint, in the shape GoCardless documents for its
/// account endpoints: `{"summary", "detail", "type", "status_code"}` (a 409 `AccountStateError` carries the
/// account itself, with its `status`), or a redirect elsewhere.
struct GoCardlessFault: Sendable {
    var status: Int
    var type: String?
    /// Calls left that get the fault; nil: every call.
    var times: Int?
    /// Where a 3xx points.
    var location: String?

    /// The documented body of this fault for `account`.
    func body(account: String, iban: String) -> [String: Any] {
        let detail: String
        let summary: String
        switch type {
        case "AccountResourceUnavailable":
            summary = "Account resource unavailable"
            detail = "The requested resource is not available for account \(account) at the institution."
        case "AccountNotFoundError":
            summary = "Account ID \(account) not found"
            detail = "Please check whether you specified a valid Account ID"
        case "AccountEUAScopeError":
            summary = "End User Agreement does not allow access to this resource"
            detail = "The End User Agreement this account was linked under does not include this access scope."
        case "AccountValidEUAError":
            summary = "No valid End User Agreement"
            detail = "Account \(account) does not have a valid End User Agreement."
        case "AccountAccessForbidden":
            summary = "Access to account is forbidden"
            detail = "The user does not have access to account \(account) at the institution."
        case "ServiceError":
            summary = "Service Error"
            detail = "Institution service is temporarily unavailable. Please try again later."
        case "AccountStateError":
            // GoCardless answers this with the account's own representation.
            return ["id": account, "iban": iban, "status": "PROCESSING", "created": "2026-01-01T00:00:00Z"]
        default:
            summary = "Error \(status)"
            detail = "Sandbox fault \(type ?? "without type")."
        }
        var json: [String: Any] = ["summary": summary, "detail": detail, "status_code": status]
        json["type"] = type
        return json
    }
}

extension GoCardlessSandboxState {
    /// The fault armed for `account`'s `scope` (metadata, details, balances, transactions), counted down.
    func takeFault(account: String, scope: String) -> GoCardlessFault? {
        let key = "\(account)/\(scope)"
        guard let fault = faults[key] else { return nil }
        if let times = fault.times {
            if times <= 1 { faults[key] = nil } else { faults[key]?.times = times - 1 }
            if times <= 0 { return nil }
        }
        return fault
    }

    /// `faultAccount` + `faultScope` + `faultStatus` (+ `faultType`, `faultTimes`, `faultLocation`) from a control.
    func armFault(_ control: Control) {
        guard let account = control.faultAccount, let status = control.faultStatus else { return }
        faults["\(account)/\(control.faultScope ?? "balances")"] = GoCardlessFault(status: status, type: control.faultType,
                                                                                   times: control.faultTimes, location: control.faultLocation)
    }
}
