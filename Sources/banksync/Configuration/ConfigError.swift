/// A setting that is missing or wrong. The CLI prints it as one line and exits 2.
struct ConfigError: Error, CustomStringConvertible {
    let setting: String
    let problem: String

    var description: String { "\(setting): \(problem)" }

    static func missing(_ setting: String, _ hint: String) -> ConfigError {
        ConfigError(setting: setting, problem: "is not set; \(hint)")
    }
}
