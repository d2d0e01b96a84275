import CLibPQ
import Foundation

/// What libpq makes of a conninfo string or URI, kept only to validate it and to keep the password out of
/// every message.
public struct ConnectionString: Sendable {
    let password: String?
    let hasConnectTimeout: Bool

    /// Validates a conninfo string or `postgres://` URI without connecting.
    public static func parse(_ text: String) throws -> ConnectionString {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw PostgresError.connect(.invalidConnectionString, message: "it is empty")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            var message = "not a valid conninfo string or postgres:// URI"
            if let errorMessage {
                message = String(cString: errorMessage).trimmingCharacters(in: .whitespacesAndNewlines)
                PQfreemem(errorMessage)
            }
            // libpq may quote the offending fragment; never let a password through.
            throw PostgresError.connect(.invalidConnectionString, message: redactURIPassword(in: message, source: text))
        }
        defer { PQconninfoFree(options) }
        var password: String?
        var hasConnectTimeout = false
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if let value = option.pointee.val {
                if name == "password" { password = String(cString: value) }
                if name == "connect_timeout" { hasConnectTimeout = true }
            }
            option += 1
        }
        return ConnectionString(password: password, hasConnectTimeout: hasConnectTimeout)
    }

    /// The same connection settings (from a conninfo string or a `postgres://` URI) aimed at database `name`,
    /// as a conninfo string: a URI cannot simply have ` dbname=…` appended.
    public static func replacingDatabase(in text: String, with name: String) throws -> String {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError.connect(.invalidConnectionString, message: "not a valid conninfo string or postgres:// URI")
        }
        defer { PQconninfoFree(options) }
        func quoted(_ value: String) -> String {
            "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        var parts: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if key != "dbname", let value = option.pointee.val { parts.append("\(key)=\(quoted(String(cString: value)))") }
            option += 1
        }
        parts.append("dbname=\(quoted(name))")
        return parts.joined(separator: " ")
    }

    func redact(_ message: String) -> String {
        guard let password, !password.isEmpty else { return message }
        return message.replacingOccurrences(of: password, with: "********")
    }

    static func classify(_ message: String) -> PostgresError.ConnectFailure {
        let lower = message.lowercased()
        if lower.contains("for connection option") || lower.contains("invalid connection option") {
            return .invalidConnectionString
        }
        if lower.contains("password authentication failed") || lower.contains("no password supplied")
            || lower.contains("authentication failed") || lower.contains("no pg_hba.conf entry")
            || (lower.contains("role") && lower.contains("does not exist")) {
            return .authentication
        }
        if lower.contains("database") && lower.contains("does not exist") { return .missingDatabase }
        if lower.contains("connection refused") || lower.contains("could not translate host name")
            || lower.contains("no such file or directory") || lower.contains("timeout expired")
            || lower.contains("could not connect") || lower.contains("network is unreachable") {
            return .unreachable
        }
        return .other
    }

    /// Blanks out `user:password@` in anything that looks like a URI inside `message`.
    static func redactURIPassword(in message: String, source: String) -> String {
        guard let schemeEnd = source.range(of: "://"),
              let at = source[schemeEnd.upperBound...].firstIndex(of: "@") else { return message }
        let userInfo = source[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return message }
        let secret = String(userInfo[userInfo.index(after: colon)...])
        guard !secret.isEmpty else { return message }
        return message.replacingOccurrences(of: secret, with: "********")
    }
}
