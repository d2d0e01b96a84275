import Flowpay

/// Flowpay settings from the environment: FLOWPAY_ENV picks the contract's URLs and audience, each
/// overridable; the client secret comes from FLOWPAY_CLIENT_SECRET or FLOWPAY_CLIENT_SECRET_FILE.
enum FlowpaySettings {
    static func load(_ environment: Environment = Environment()) throws -> FlowpayConfiguration {
        let name = environment.value("FLOWPAY_ENV") ?? "test"
        guard let flowpayEnvironment = FlowpayContract.Environment(rawValue: name) else {
            throw ConfigError(setting: "FLOWPAY_ENV", problem: "must be test or production, not '\(name)'")
        }
        guard let clientID = environment.value("FLOWPAY_CLIENT_ID") else {
            throw ConfigError.missing("FLOWPAY_CLIENT_ID", "set it to the partner client id Flowpay issued")
        }
        guard let secret = try environment.secret("FLOWPAY_CLIENT_SECRET") else {
            throw ConfigError.missing("FLOWPAY_CLIENT_SECRET", "set it, or FLOWPAY_CLIENT_SECRET_FILE to a file holding it")
        }
        let apiURL = try url(environment, "FLOWPAY_API_URL", default: flowpayEnvironment.apiURL)
        let tokenURL = try url(environment, "FLOWPAY_TOKEN_URL", default: flowpayEnvironment.tokenURL)
        return FlowpayConfiguration(apiURL: apiURL, tokenURL: tokenURL,
                                    audience: environment.value("FLOWPAY_AUDIENCE") ?? flowpayEnvironment.audience,
                                    clientID: clientID, clientSecret: secret)
    }

    static func url(_ environment: Environment, _ name: String, default fallback: String) throws -> String {
        guard let value = environment.value(name) else { return fallback }
        guard value.hasPrefix("https://") || value.hasPrefix("http://") else {
            throw ConfigError(setting: name, problem: "must be an http(s) URL, not '\(value)'")
        }
        return value
    }
}
