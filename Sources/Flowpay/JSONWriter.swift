/// A small streaming JSON writer for bodies whose numbers must keep their exact decimal digits.
/// (JSONEncoder would send amounts through Double.)
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func array<T>(_ items: [T], _ element: (inout JSONWriter, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            element(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func object(_ fields: (inout ObjectWriter) -> Void) {
        var writer = ObjectWriter(json: self)
        bytes = []
        writer.json.bytes.append(UInt8(ascii: "{"))
        fields(&writer)
        writer.json.bytes.append(UInt8(ascii: "}"))
        self = writer.json
    }

    mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Bytes at or above 0x80 are UTF-8 of non-ASCII scalars and go out as they are; only '"', '\\' and
        // control characters are escaped. Text without any of those (nearly all) is appended whole.
        var text = text
        text.withUTF8 { utf8 in   // a contiguous buffer: scanning the String's views byte by byte is much slower
            guard utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case ..<0x20:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xF)]])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// Room for what is about to be written (a page of transactions is ~300 bytes each).
    public mutating func reserve(_ count: Int) { bytes.reserveCapacity(bytes.count + count) }

    public struct ObjectWriter {
        var json: JSONWriter
        var count = 0

        mutating func key(_ name: String) {
            if count > 0 { json.bytes.append(UInt8(ascii: ",")) }
            count += 1
            // Names are this module's own identifiers, never outside text: no escaping needed.
            json.bytes.append(UInt8(ascii: "\""))
            json.bytes.append(contentsOf: name.utf8)
            json.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }

        /// Writes `"name":"value"`; omits the field when the value is nil.
        public mutating func string(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            json.appendString(value)
        }

        /// Writes a number from its exact decimal text (`-1250.00`).
        public mutating func number(_ name: String, _ decimal: String) {
            key(name)
            json.bytes.append(contentsOf: decimal.utf8)
        }

        public mutating func array<T>(_ name: String, _ items: [T], _ element: (inout JSONWriter, T) -> Void) {
            key(name)
            json.array(items, element)
        }

        public mutating func object(_ name: String, _ fields: (inout ObjectWriter) -> Void) {
            key(name)
            json.object(fields)
        }
    }
}
