import Foundation

/// How one statement parameter travels to the server.
public enum PostgresParameter: Sendable, Equatable {
    case null
    /// Text format: the server parses the string as the parameter's type.
    case text(String)
    /// Binary format with an explicit type; used for bytea so zero bytes survive.
    case binary([UInt8], PostgresType)
}

/// A Swift value that can be bound as a statement parameter (`$1`, `$2`, …).
public protocol PostgresEncodable: Sendable {
    var postgresParameter: PostgresParameter { get }
}

extension String: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(self) }
}

extension Substring: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int64: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int32: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int16: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Bool: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(self ? "t" : "f") }
}

extension Double: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension PostgresDate: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(description) }
}

extension UUID: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .text(uuidString) }
}

extension Date: PostgresEncodable {
    /// Sent as an ISO-8601 UTC instant with microseconds, which both timestamptz and timestamp accept.
    public var postgresParameter: PostgresParameter { .text(PostgresTimestamp.format(self)) }
}

/// Raw bytes, bound in binary format as `bytea`.
public struct PostgresBytes: PostgresEncodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var postgresParameter: PostgresParameter { .binary(bytes, .bytea) }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public var postgresParameter: PostgresParameter { .binary(self, .bytea) }
}

/// JSON document text, bound and decoded as-is (`json` or `jsonb`).
public struct JSONText: PostgresEncodable, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var postgresParameter: PostgresParameter { .text(text) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        switch self {
        case .none: .null
        case .some(let value): value.postgresParameter
        }
    }
}
