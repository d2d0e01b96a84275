import Foundation

/// One non-NULL cell of a text-format result: its bytes, type and column name (for error messages).
public struct PostgresCell {
    public let text: String
    public let type: PostgresType
    public let column: String

    func mismatch(_ expected: String) -> PostgresError {
        .decoding(column: column, expected: expected, found: type.description)
    }

    func invalid(_ expected: String) -> PostgresError {
        .decoding(column: column, expected: expected, found: "\(type.description) value '\(text.prefix(40))'")
    }
}

/// A Swift type that a result column decodes into. NULL decodes only into `Optional`.
public protocol PostgresDecodable {
    static func decode(_ cell: PostgresCell) throws -> Self
    static func decodeNull(column: String) throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull(column: String) throws -> Self {
        throw PostgresError.unexpectedNull(column: column)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Self { try Wrapped.decode(cell) }
    public static func decodeNull(column: String) throws -> Self { nil }
}

private func decodeInteger<T: FixedWidthInteger>(_ cell: PostgresCell, as: T.Type) throws -> T {
    switch cell.type {
    case .int2, .int4, .int8, .oid:
        guard let value = T(cell.text) else { throw cell.invalid("\(T.self) (value out of range)") }
        return value
    case .numeric:
        guard let value = T(cell.text) else { throw cell.invalid("\(T.self) (not an integer in range)") }
        return value
    default:
        throw cell.mismatch("\(T.self)")
    }
}

extension Int: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Int { try decodeInteger(cell, as: Int.self) }
}

extension Int64: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Int64 { try decodeInteger(cell, as: Int64.self) }
}

extension Int32: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Int32 { try decodeInteger(cell, as: Int32.self) }
}

extension Int16: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Int16 { try decodeInteger(cell, as: Int16.self) }
}

extension Bool: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Bool {
        guard cell.type == .bool else { throw cell.mismatch("Bool") }
        switch cell.text {
        case "t": return true
        case "f": return false
        default: throw cell.invalid("Bool")
        }
    }
}

extension Double: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Double {
        guard [.numeric, .int2, .int4, .int8, PostgresType(rawValue: 700), PostgresType(rawValue: 701)]
            .contains(cell.type) else { throw cell.mismatch("Double") }
        guard let value = Double(cell.text) else { throw cell.invalid("Double") }
        return value
    }
}

extension String: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> String {
        guard cell.type.isTextLike || cell.type == .uuid || cell.type == .json || cell.type == .jsonb else {
            throw cell.mismatch("String")
        }
        return cell.text
    }
}

extension JSONText: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> JSONText {
        guard cell.type == .json || cell.type == .jsonb else { throw cell.mismatch("JSON") }
        return JSONText(cell.text)
    }
}

extension UUID: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> UUID {
        guard cell.type == .uuid || cell.type.isTextLike else { throw cell.mismatch("UUID") }
        guard let value = UUID(uuidString: cell.text) else { throw cell.invalid("UUID") }
        return value
    }
}

extension PostgresDate: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> PostgresDate {
        guard cell.type == .date else { throw cell.mismatch("date") }
        guard let value = PostgresDate(iso: Substring(cell.text)) else { throw cell.invalid("date (YYYY-MM-DD)") }
        return value
    }
}

extension Date: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> Date {
        guard cell.type == .timestamptz || cell.type == .timestamp else { throw cell.mismatch("timestamp") }
        guard let value = PostgresTimestamp.parse(cell.text) else { throw cell.invalid("timestamp") }
        return value
    }
}

extension PostgresBytes: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws -> PostgresBytes {
        PostgresBytes(try [UInt8].decode(cell))
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// bytea arrives in hex text form: `\x` followed by two hex digits per byte.
    public static func decode(_ cell: PostgresCell) throws -> [UInt8] {
        guard cell.type == .bytea else { throw cell.mismatch("bytes") }
        let utf8 = Array(cell.text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw cell.invalid("bytea in hex format")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else {
                throw cell.invalid("bytea in hex format")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

@inline(__always)
private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
