import Foundation

/// Reads settings from the process environment, or from `NAME_FILE` for secrets kept in files.
struct Environment {
    var values: [String: String] = ProcessInfo.processInfo.environment

    func value(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE` (trailing newline dropped).
    func secret(_ name: String) throws -> String? {
        if let value = value(name) { return value }
        guard let path = value(name + "_FILE") else { return nil }
        guard let contents = FileManager.default.contents(atPath: path),
              let text = String(data: contents, encoding: .utf8) else {
            throw ConfigError(setting: name + "_FILE", problem: "cannot read \(path)")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw ConfigError(setting: name + "_FILE", problem: "\(path) is empty") }
        return secret
    }
}
