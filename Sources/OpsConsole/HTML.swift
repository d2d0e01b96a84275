import Foundation

/// Markup that is safe to send: text interpolated into it is escaped, only other `HTML` values go in as they
/// are. There is no way to put an unescaped `String` into a page but `HTML(trusted:)` on a literal.
public struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var markup: String

    public init(stringLiteral value: StaticString) { markup = value.description }

    /// Markup written by us (a constant), never built from outside text.
    init(trusted: StaticString) { markup = trusted.description }

    private init(raw: String) { markup = raw }

    public init(stringInterpolation: Interpolation) { markup = stringInterpolation.markup }

    public var description: String { markup }

    public struct Interpolation: StringInterpolationProtocol {
        var markup = ""

        public init(literalCapacity: Int, interpolationCount: Int) { markup.reserveCapacity(literalCapacity * 2) }

        public mutating func appendLiteral(_ literal: StaticString) { markup += literal.description }

        /// Text: escaped (also inside attribute values, which are always double-quoted here).
        public mutating func appendInterpolation(_ text: String) { markup += HTML.escape(text) }

        public mutating func appendInterpolation(_ text: String?) { markup += HTML.escape(text ?? "") }

        public mutating func appendInterpolation<Number: BinaryInteger>(_ number: Number) { markup += String(number) }

        public mutating func appendInterpolation(_ html: HTML) { markup += html.markup }

        public mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { markup += part.markup } }
    }

    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    public static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(raw: lhs.markup + rhs.markup) }

    static func join(_ parts: [HTML], separator: HTML = "") -> HTML {
        HTML(raw: parts.map(\.markup).joined(separator: separator.markup))
    }
}

extension Array where Element == HTML {
    func joined(separator: HTML = "") -> HTML { HTML.join(self, separator: separator) }
}
