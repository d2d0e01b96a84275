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
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: [0x5c, 0x22])
            case "\\": bytes.append(contentsOf: [0x5c, 0x5c])
            case "\n": bytes.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case "\r": bytes.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case "\t": bytes.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case _ where scalar.value < 0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 0xf)]])
            default: bytes.append(contentsOf: Array(String(scalar).utf8))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public struct ObjectWriter {
        var json: JSONWriter
        var count = 0

        mutating func key(_ name: String) {
            if count > 0 { json.bytes.append(UInt8(ascii: ",")) }
            count += 1
            json.appendString(name)
            json.bytes.append(UInt8(ascii: ":"))
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
            json.bytes.append(contentsOf: Array(decimal.utf8))
        }

        public mutating func array<T>(_ name: String, _ items: [T], _ element: (inout JSONWriter, T) -> Void) {
            key(name)
            json.array(items, element)
        }
    }
}
