import Crypto
import Foundation
import PullAPI
import Store

/// How the console runs, read once by `serve` from its environment (`BANKSYNC_CONSOLE_*`).
public struct ConsoleSettings: Sendable {
    public enum Mode: String, Sendable { case readOnly = "read-only", operate }

    /// `read-only` (the default) refuses every action with 403; `operate` lets roles act.
    public var mode: Mode = .readOnly
    /// Peers whose forward-auth headers are believed (`BANKSYNC_CONSOLE_TRUSTED_PROXIES`, default none); from anyone else they are ignored.
    public var trustedProxies: TrustedProxies = .none
    /// The forward-auth proxy's header naming the signed-in user, and the one listing the user's groups.
    public var userHeader = "X-Forwarded-User"
    public var groupsHeader = "X-Forwarded-Groups"
    /// Group name → role: `banksync-viewer`, `banksync-operator`, `banksync-approver` by default
    /// (`BANKSYNC_CONSOLE_GROUP_PREFIX` changes the prefix). The strongest role a user's groups give wins.
    public var groupPrefix = "banksync-"
    /// SHA-256 of the break-glass console API key (`BANKSYNC_CONSOLE_KEY`/`_FILE`); nil: no key sign-in.
    public var breakGlassKeyHash: [UInt8]?
    /// The role a break-glass session gets (`BANKSYNC_CONSOLE_KEY_ROLE`, default approver).
    public var breakGlassRole: ConsoleRole = .approver
    /// The console's own origin (`BANKSYNC_CONSOLE_ORIGIN`, e.g. https://ops.example.com); without it a POST's
    /// `Origin` must name the host the request was sent to.
    public var origin: String?
    public var sessionLifetime: TimeInterval = 8 * 3600
    /// Signs proxy users' form tokens; new each start (a restart only makes open forms be sent again).
    let formKey = SymmetricKey(size: .bits256)

    public init() {}

    public static func hash(key: String) -> [UInt8] { Array(SHA256.hash(data: Data(key.utf8))) }
}
