import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PullAPI
import Store

/// Finds who a request comes from: a forward-auth proxy's user and groups headers, believed only when the socket
/// peer is one of `BANKSYNC_CONSOLE_TRUSTED_PROXIES`; else a break-glass session cookie. Never both: a trusted proxy's
/// user wins. Holds no OIDC code: the proxy does the sign-in.
struct ConsoleAuthenticator: Sendable {
    static let cookieName = "banksync_console"

    let settings: ConsoleSettings
    let pool: ConnectionPool
    let logger: Logger

    func identify(_ request: Request, peer: String?) async throws -> ConsoleIdentity? {
        let userField = HTTPField.Name(settings.userHeader)
        if let userField, let user = request.headers[userField]?.trimmingCharacters(in: .whitespaces), !user.isEmpty {
            if let peer, let address = IPAddress(peer), settings.trustedProxies.contains(address) {
                guard let role = role(groups: HTTPField.Name(settings.groupsHeader).flatMap { request.headers[values: $0] } ?? []) else {
                    logger.notice("console: proxy user has no console group", metadata: ["user": "\(user)"])
                    return nil
                }
                return ConsoleIdentity(who: user, role: role, via: .proxy, formToken: proxyFormToken(who: user, role: role))
            }
            // Anyone can write the header: from a peer that is not our proxy it names nobody.
            logger.warning("console: user header from an untrusted peer ignored", metadata: ["peer": "\(peer ?? "?")"])
        }
        guard let cookie = request.cookies[Self.cookieName]?.value, !cookie.isEmpty, cookie.count <= 128 else { return nil }
        guard let session = try await pool.withReadStore({ try $0.consoleSession(cookieValue: cookie) }) else { return nil }
        return ConsoleIdentity(who: session.who, role: session.role, via: .session, formToken: session.formToken)
    }

    /// The strongest role the groups give (`banksync-viewer`, …; comma- or space-separated, several headers allowed).
    func role(groups: [String]) -> ConsoleRole? {
        let names = groups.flatMap { $0.split(whereSeparator: { $0 == "," || $0 == " " }) }.map { $0.lowercased() }
        return ConsoleRole.allCases.filter { names.contains(settings.groupPrefix.lowercased() + $0.rawValue) }.max()
    }

    /// A proxy user has no session row: the form token is a MAC of who and role under this process's key.
    func proxyFormToken(who: String, role: ConsoleRole) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(who)\u{0}\(role.rawValue)".utf8), using: settings.formKey)
        return Self.base64URL(Data(mac))
    }

    /// Whether the break-glass key matches (compared as SHA-256 digests, in constant time).
    func breakGlassKeyMatches(_ key: String) -> Bool {
        guard let expected = settings.breakGlassKeyHash else { return false }
        return Self.constantTimeEqual(ConsoleSettings.hash(key: key), expected)
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func randomToken() -> String {
        base64URL(Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
