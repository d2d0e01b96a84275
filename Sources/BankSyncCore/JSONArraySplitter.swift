/// Reads a JSON document as its bytes arrive and hands out, one at a time, the elements of the arrays at the
/// given paths (`["transactions", "booked"]`) as their own small documents; everything else is kept as the
/// document's *skeleton*, with those arrays left empty, to be parsed whole at the end (`_links`, an error
/// object). A top-level array's path is `[]`. So a 200,000-transaction history is never one tree in memory: at most one element and the
/// skeleton are.
///
/// It only finds boundaries (strings, escapes, nesting); each element and the skeleton are validated when
/// parsed. An element or a skeleton larger than its limit, or nesting deeper than 512, is refused.
public struct JSONArraySplitter: Sendable {
    public enum Problem: Error, Equatable {
        case elementTooLarge(path: String, limit: Int)
        case skeletonTooLarge(limit: Int)
        case nestingTooDeep
    }

    private struct Frame: Sendable {
        let isObject: Bool
        let path: [String]
        let collects: Bool
        var key: String?
        var expectingKey: Bool
    }

    let arrays: Set<[String]>
    let elementLimit: Int
    let skeletonLimit: Int
    public private(set) var skeleton: [UInt8] = []
    private var stack: [Frame] = []
    private var inString = false
    private var escaped = false
    private var key: [UInt8]?
    // The element being captured, with its nesting below the collecting array and whether it is a bare scalar.
    private var element: [UInt8]?
    private var elementNesting = 0
    private var elementIsScalar = false
    private var elementIndex: [[String]: Int] = [:]

    public init(arrays: Set<[String]>, elementLimit: Int = 1 << 20, skeletonLimit: Int = 4 << 20) {
        self.arrays = arrays
        self.elementLimit = elementLimit
        self.skeletonLimit = skeletonLimit
    }

    /// Feeds the next bytes; `emit` gets each complete element with its array's path and its index there.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes, emit: ([String], Int, [UInt8]) throws -> Void) throws
        where Bytes.Element == UInt8 {
        // Called from other modules, this is unspecialised generic code: iterating `bytes` here cost a witness
        // call per byte (a quarter of the worker's CPU in a fleet backfill). Contiguous bytes are read directly.
        let done: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            try feed(contiguous: UnsafeRawBufferPointer(buffer), emit: emit)
        }
        if done == nil {
            try Array(bytes).withUnsafeBytes { try feed(contiguous: $0, emit: emit) }
        }
    }

    /// Inside an element, runs of bytes that change no state (a string's text, a number, a name) are appended at
    /// once; every other byte goes through `capture` or `structural`.
    private mutating func feed(contiguous bytes: UnsafeRawBufferPointer, emit: ([String], Int, [UInt8]) throws -> Void) throws {
        var index = 0
        while index < bytes.count {
            if element != nil {
                let runEnd = inString ? (escaped ? index : Self.endOfStringRun(bytes, from: index)) : Self.endOfPlainRun(bytes, from: index)
                if runEnd > index {
                    element!.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<runEnd]))
                    try checkElement()
                    index = runEnd
                    continue
                }
                if try capture(bytes[index], emit: emit) {
                    index += 1
                    continue
                }
            }
            try structural(bytes[index])
            index += 1
        }
    }

    /// The first quote or backslash at or after `start` (or the end).
    private static func endOfStringRun(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") { index += 1 }
        return index
    }

    /// The first byte at or after `start` that may change an element's state outside strings (or the end).
    private static func endOfPlainRun(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","):
                return index
            default:
                index += 1
            }
        }
        return index
    }

    /// One byte of an element; false when the byte ends a scalar and belongs to the enclosing array.
    private mutating func capture(_ byte: UInt8, emit: ([String], Int, [UInt8]) throws -> Void) throws -> Bool {
        if inString {
            element!.append(byte)
            try checkElement()
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
                if elementNesting == 0 { try finishElement(emit: emit) }
            }
            return true
        }
        if elementNesting == 0, byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") {
            // A scalar element ends here; the byte belongs to the array.
            try finishElement(emit: emit)
            return byte == UInt8(ascii: ",")
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            elementNesting += 1
            guard elementNesting < 512 else { throw Problem.nestingTooDeep }
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            elementNesting -= 1
            element!.append(byte)
            if elementNesting == 0 { try finishElement(emit: emit) }
            return true
        default:
            break
        }
        element!.append(byte)
        try checkElement()
        return true
    }

    private func checkElement() throws {
        guard let element, element.count > elementLimit else { return }
        throw Problem.elementTooLarge(path: stack.last?.path.joined(separator: ".") ?? "", limit: elementLimit)
    }

    private mutating func finishElement(emit: ([String], Int, [UInt8]) throws -> Void) throws {
        guard let bytes = element, let frame = stack.last else { return }
        element = nil
        let index = elementIndex[frame.path, default: 0]
        elementIndex[frame.path] = index + 1
        let trimmed = elementIsScalar ? Array(bytes.reversed().drop(while: Self.isWhitespace).reversed()) : bytes
        try emit(frame.path, index, trimmed)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// One byte outside the collected elements: nesting, keys, and the skeleton.
    private mutating func structural(_ byte: UInt8) throws {
        if inString {
            skeleton.append(byte)
            if escaped {
                escaped = false
                key?.append(byte)
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
                key?.append(byte)
            } else if byte == UInt8(ascii: "\"") {
                inString = false
                if let name = key {
                    stack[stack.count - 1].key = String(decoding: name, as: UTF8.self)
                    key = nil
                }
            } else {
                key?.append(byte)
            }
            return try checkSkeleton()
        }
        if let frame = stack.last, frame.collects {
            if Self.isWhitespace(byte) || byte == UInt8(ascii: ",") { return }
            if byte != UInt8(ascii: "]") {
                // An element starts.
                element = [byte]
                elementIsScalar = false
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["): elementNesting = 1
                case UInt8(ascii: "\""): elementNesting = 0; inString = true
                default: elementNesting = 0; elementIsScalar = true
                }
                return
            }
        }
        skeleton.append(byte)
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            if let frame = stack.last, frame.isObject, frame.expectingKey { key = [] }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard stack.count < 512 else { throw Problem.nestingTooDeep }
            let path = stack.last.map { $0.isObject ? $0.path + [$0.key ?? ""] : $0.path + ["*"] } ?? []
            let isObject = byte == UInt8(ascii: "{")
            stack.append(Frame(isObject: isObject, path: path, collects: !isObject && arrays.contains(path), key: nil, expectingKey: isObject))
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            _ = stack.popLast()
        case UInt8(ascii: ":"):
            if !stack.isEmpty { stack[stack.count - 1].expectingKey = false }
        case UInt8(ascii: ","):
            if let frame = stack.last, frame.isObject { stack[stack.count - 1].expectingKey = true }
        default:
            break
        }
        try checkSkeleton()
    }

    private func checkSkeleton() throws {
        guard skeleton.count <= skeletonLimit else { throw Problem.skeletonTooLarge(limit: skeletonLimit) }
    }
}
