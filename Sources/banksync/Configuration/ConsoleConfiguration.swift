import OpsConsole
import PullAPI
import Store

/// The ops console's settings (`BANKSYNC_CONSOLE_*`), read once by `serve`. Off unless BANKSYNC_CONSOLE_LISTEN
/// is set; never on the public listener (nor the metrics one).
struct ConsoleConfiguration {
    var listen: (String, Int)
    var settings: ConsoleSettings

    static func load(_ environment: Environment, publicListen: (String, Int), metricsListen: (String, Int)?) throws -> ConsoleConfiguration? {
        guard let text = environment.value("BANKSYNC_CONSOLE_LISTEN"), text != "off" else { return nil }
        let listen = try ServeCommand.listenAddress(text, setting: "BANKSYNC_CONSOLE_LISTEN")
        for (other, name) in [(publicListen, "BANKSYNC_LISTEN")] + (metricsListen.map { [($0, "BANKSYNC_METRICS_LISTEN")] } ?? [])
        where overlaps(listen, other) {
            throw ConfigError(setting: "BANKSYNC_CONSOLE_LISTEN", problem: "'\(text)' is the same listener as \(name): the console is never served there")
        }
        var settings = ConsoleSettings()
        let modeText = environment.value("BANKSYNC_CONSOLE_MODE") ?? "read-only"
        guard let mode = ConsoleSettings.Mode(rawValue: modeText) else {
            throw ConfigError(setting: "BANKSYNC_CONSOLE_MODE", problem: "must be read-only or operate, not '\(modeText)'")
        }
        settings.mode = mode
        // The forward-auth proxies have a list of their own (default none): BANKSYNC_TRUSTED_PROXIES names the
        // ingress in front of the public API, whose forwarded-for only keys rate limits; believing a user and role
        // from every address in it would let any peer in that range (another pod, the public ingress routed to
        // this port) sign in as an approver.
        settings.trustedProxies = try ServeCommand.trustedProxies(environment, setting: "BANKSYNC_CONSOLE_TRUSTED_PROXIES")
        if let header = environment.value("BANKSYNC_CONSOLE_USER_HEADER") { settings.userHeader = header }
        if let header = environment.value("BANKSYNC_CONSOLE_GROUPS_HEADER") { settings.groupsHeader = header }
        if let prefix = environment.value("BANKSYNC_CONSOLE_GROUP_PREFIX") { settings.groupPrefix = prefix }
        // Only the key's digest is kept in memory; the key itself comes from the environment or a file, never argv.
        if let key = try environment.secret("BANKSYNC_CONSOLE_KEY") {
            guard key.count >= 24 else {
                throw ConfigError(setting: "BANKSYNC_CONSOLE_KEY", problem: "is shorter than 24 characters (use e.g. `openssl rand -base64 32`)")
            }
            settings.breakGlassKeyHash = ConsoleSettings.hash(key: key)
        }
        if let roleText = environment.value("BANKSYNC_CONSOLE_KEY_ROLE") {
            guard let role = ConsoleRole(rawValue: roleText) else {
                throw ConfigError(setting: "BANKSYNC_CONSOLE_KEY_ROLE", problem: "must be viewer, operator or approver, not '\(roleText)'")
            }
            settings.breakGlassRole = role
        }
        if let origin = environment.value("BANKSYNC_CONSOLE_ORIGIN") {
            guard origin.hasPrefix("https://") || origin.hasPrefix("http://"), !origin.hasSuffix("/") else {
                throw ConfigError(setting: "BANKSYNC_CONSOLE_ORIGIN", problem: "must be scheme://host[:port] without a path, not '\(origin)'")
            }
            settings.origin = origin
        }
        return ConsoleConfiguration(listen: listen, settings: settings)
    }

    /// The same port on the same host, or on a wildcard address that includes the other.
    static func overlaps(_ lhs: (String, Int), _ rhs: (String, Int)) -> Bool {
        guard lhs.1 == rhs.1, lhs.1 != 0 else { return false }
        let wildcard: Set<String> = ["0.0.0.0", "::", "[::]", "*", ""]
        func normal(_ host: String) -> String { host == "localhost" ? "127.0.0.1" : host }
        return normal(lhs.0) == normal(rhs.0) || wildcard.contains(lhs.0) || wildcard.contains(rhs.0)
    }
}
