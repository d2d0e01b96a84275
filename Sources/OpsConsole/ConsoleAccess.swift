import HTTPTypes
import Store

/// What each console route needs: the one table the guard checks. A method and path not listed here is denied
/// (404) before any handler runs, whatever the router has — default deny.
enum ConsoleAccess: Equatable {
    /// Served to anyone: the sign-in form and the static assets.
    case open
    /// A signed-in identity with at least this role.
    case signedIn(ConsoleRole)
    /// An action: `operate` mode, the action's role, a same-origin POST with the identity's form token.
    case action(ConsoleAction)

    static func of(_ method: HTTPRequest.Method, _ path: String) -> ConsoleAccess? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard parts.first == "console" else { return nil }
        let rest = parts.dropFirst().joined(separator: "/")
        let viewerPages: Set<String> = ["", "customers", "customers.csv", "customers.json", "held", "refused", "consents", "audit"]
        // HEAD answers like GET, without the body (the router makes every GET route answer HEAD too).
        if method == .get || method == .head {
            if viewerPages.contains(rest) { return .signedIn(.viewer) }
            if rest == "assets/console.css" || rest == "assets/console.js" || rest == "sign-in" { return .open }
            let pieces = rest.split(separator: "/", omittingEmptySubsequences: false)
            if pieces.count == 2, pieces[0] == "customers", !pieces[1].isEmpty { return .signedIn(.viewer) }
            if pieces.count == 3, pieces[0] == "accounts", !pieces[1].isEmpty, pieces[2] == "reconciliation" { return .signedIn(.viewer) }
            return nil
        }
        guard method == .post else { return nil }
        if rest == "sign-in" { return .open }
        if rest == "sign-out" { return .signedIn(.viewer) }
        if rest.hasPrefix("actions/") { return ConsoleAction(rawValue: String(rest.dropFirst("actions/".count))).map { .action($0) } }
        return nil
    }
}
