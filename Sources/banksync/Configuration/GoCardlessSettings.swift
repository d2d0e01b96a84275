import Aggregators

/// GoCardless Bank Account Data credentials; nil when none are configured (then only Berlin Group
/// customers can be synced).
enum GoCardlessSettings {
    static func load(_ environment: Environment = Environment()) throws -> GoCardlessConfiguration? {
        let id = environment.value("GOCARDLESS_SECRET_ID")
        let key = try environment.secret("GOCARDLESS_SECRET_KEY")
        guard let id, let key else {
            if id != nil { throw ConfigError.missing("GOCARDLESS_SECRET_KEY", "set it, or GOCARDLESS_SECRET_KEY_FILE, with GOCARDLESS_SECRET_ID") }
            if key != nil { throw ConfigError.missing("GOCARDLESS_SECRET_ID", "set it with GOCARDLESS_SECRET_KEY") }
            return nil
        }
        let url = try FlowpaySettings.url(environment, "GOCARDLESS_API_URL", default: GoCardlessConfiguration.publicAPI)
        return GoCardlessConfiguration(apiURL: url, secretID: id, secretKey: key)
    }
}
