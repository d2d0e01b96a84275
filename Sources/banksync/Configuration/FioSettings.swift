import Aggregators
import Foundation
import Store
import SyncEngine

/// Fio banka settings: the API base (`FIO_API_URL`), the interval between two calls for one token
/// (`FIO_MIN_INTERVAL`, Fio's 30 s; shorter only against a sandbox), and the key that seals tokens at rest
/// (`BANKSYNC_SECRETS_KEY` or `BANKSYNC_SECRETS_KEY_FILE`: base64 of 32 bytes).
enum FioSettings {
    static func load(_ environment: Environment = Environment()) throws -> FioConfiguration {
        let url = try FlowpaySettings.url(environment, "FIO_API_URL", default: FioConfiguration.publicAPI)
        var interval = FioConfiguration.documentedInterval
        if let text = environment.value("FIO_MIN_INTERVAL") {
            let parsed = text.hasSuffix("ms") ? Int(text.dropLast(2)).map { Duration.milliseconds($0) } : parseDuration(text)
            guard let parsed, parsed > .zero else {
                throw ConfigError(setting: "FIO_MIN_INTERVAL", problem: "'\(text)' is not a duration like 30s or 500ms")
            }
            interval = parsed
        }
        return FioConfiguration(baseURL: url, minInterval: interval)
    }

    /// The vault under `name` (or `name_FILE`); nil when neither is set and `required` is false. A key that is set
    /// but unusable is always a configuration error naming the setting (exit 2). The key never appears in a message.
    static func vault(_ environment: Environment = Environment(), name: String = "BANKSYNC_SECRETS_KEY", required: Bool,
                      purpose: String = "Fio tokens are stored sealed with it") throws -> TokenVault? {
        guard let key = try environment.secret(name) else {
            if required { throw ConfigError.missing(name, "set it, or \(name)_FILE, to base64 of 32 random bytes (openssl rand -base64 32): \(purpose)") }
            return nil
        }
        do { return try TokenVault(base64: key) } catch {
            throw ConfigError(setting: environment.value(name) != nil ? name : name + "_FILE", problem: error.description)
        }
    }

    /// Without the key, a run with Fio customers is a configuration error (exit 2) before anything is read. A
    /// database that cannot be asked now is left to the run itself (it reconnects, and says so).
    static func requireKeyForFioCustomers(_ database: DatabaseSettings) throws {
        guard let store = try? Store.connect(database.connectionString) else { return }
        defer { store.connection.close() }
        if (try? store.hasFioCustomers()) == true {
            throw ConfigError.missing("BANKSYNC_SECRETS_KEY", "set it, or BANKSYNC_SECRETS_KEY_FILE, to the key the Fio customers' tokens were sealed with")
        }
    }

    /// A token read from `path`: one line, no spaces or slashes (it becomes a URL path segment). Never echoed.
    static func token(fromFile path: String, setting: String) throws -> String {
        guard let contents = FileManager.default.contents(atPath: path), let text = String(data: contents, encoding: .utf8) else {
            throw ConfigError(setting: setting, problem: "cannot read \(path)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ConfigError(setting: setting, problem: "\(path) is empty") }
        guard token.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }), token.allSatisfy(\.isASCII) else {
            throw ConfigError(setting: setting, problem: "\(path) does not hold a Fio API token (letters and digits only)")
        }
        return token
    }

    /// Registers a Fio customer with its token sealed, in one transaction: the customer never exists without it.
    /// The source reference is the token's fingerprint (shown by `customers list`), never the token.
    static func register(store: Store, flowpayID: UUID, merchantID: String, token: String, historyDays: Int, vault: TokenVault) async throws -> String {
        let sealed = try vault.seal(token)
        let reference = TokenVault.fingerprint(ofToken: token)
        try await store.connection.withTransaction {
            let id = try store.addCustomer(flowpayCustomerID: flowpayID, merchantID: merchantID, source: .fio, sourceRef: reference,
                                           historyDays: historyDays)
            try store.putSealedSecret(customerID: id, sealed: sealed)
        }
        return reference
    }
}
