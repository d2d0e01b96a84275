import CLibPQ
import Foundation

/// Writes rows into a running `COPY … FROM STDIN` (text format) in bounded chunks.
///
/// Fields are escaped here, so callers pass plain values; memory stays at one chunk whatever the row count.
public final class CopyWriter {
    private let connection: PostgresConnection
    private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    public private(set) var rowsWritten = 0
    static let chunkSize = 256 * 1024

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(Self.chunkSize + 4096)
    }

    @inline(__always)
    private func separator() {
        if fieldsInRow > 0 { buffer.append(UInt8(ascii: "\t")) }
        fieldsInRow += 1
    }

    public func null() {
        separator()
        buffer.append(UInt8(ascii: "\\"))
        buffer.append(UInt8(ascii: "N"))
    }

    public func field(_ text: String?) {
        guard let text else { return null() }
        separator()
        // Most fields need no escaping: append them whole, from a contiguous buffer (per-byte appends to a
        // class's buffer pay an exclusivity check each, which dominated ingest profiles).
        var contiguous = text
        contiguous.withUTF8 { utf8 in
            guard utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) else {
                buffer.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\t"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "t"))
                case UInt8(ascii: "\n"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "r"))
                default: buffer.append(byte)
                }
            }
        }
    }

    public func field(_ value: Int64?) {
        guard let value else { return null() }
        separator()
        appendDecimal(value)
    }

    public func field(_ value: Int?) { field(value.map(Int64.init)) }

    public func field(_ value: Bool?) {
        guard let value else { return null() }
        separator()
        buffer.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    public func field(_ date: PostgresDate?) {
        guard let date else { return null() }
        separator()
        appendPadded(date.year, 4)
        buffer.append(UInt8(ascii: "-"))
        appendPadded(date.month, 2)
        buffer.append(UInt8(ascii: "-"))
        appendPadded(date.day, 2)
    }

    /// bytea in hex form; the backslash is doubled because COPY text unescapes once.
    public func field<Bytes: Collection<UInt8>>(bytes: Bytes?) {
        guard let bytes else { return null() }
        separator()
        // Written into a local array and appended once: called from other modules this is unspecialised generic
        // code, and per-byte appends to the class's buffer each paid a witness call and an exclusivity check.
        let source = Array(bytes)
        var hex = [UInt8](repeating: 0, count: 3 + source.count * 2)
        hex[0] = UInt8(ascii: "\\")
        hex[1] = UInt8(ascii: "\\")
        hex[2] = UInt8(ascii: "x")
        for (index, byte) in source.enumerated() {
            hex[3 + 2 * index] = hexDigits[Int(byte >> 4)]
            hex[4 + 2 * index] = hexDigits[Int(byte & 0x0f)]
        }
        buffer.append(contentsOf: hex)
    }

    /// Ends the current row; sends a chunk to the server when the buffer is full.
    public func endRow() throws {
        buffer.append(UInt8(ascii: "\n"))
        fieldsInRow = 0
        rowsWritten += 1
        if buffer.count >= Self.chunkSize { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        let status = buffer.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) {
                PQputCopyData(connection.handle, $0.baseAddress, Int32($0.count))
            }
        }
        guard status == 1 else {
            throw PostgresError.copy(message: PostgresConnection.lastErrorMessage(connection.handle))
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func appendDecimal(_ value: Int64) {
        if value == 0 { buffer.append(UInt8(ascii: "0")); return }
        var magnitude = value.magnitude
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while magnitude > 0 {
                raw[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
        }
    }

    private func appendPadded(_ value: Int, _ width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        if value >= divisor * 10 { appendDecimal(Int64(value)); return }
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

extension PostgresConnection {
    /// Runs `COPY … FROM STDIN` and lets `body` write the rows. The whole COPY is one statement: if `body`
    /// throws or any row is malformed, nothing of it lands. Returns the number of rows copied.
    @discardableResult
    public func copyIn(
        _ sql: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (CopyWriter) async throws -> Void
    ) async throws -> Int {
        flushDeferredWrites()
        noteRoundTrip(2)   // the COPY's start and its end each wait for the server
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            let error = lostOrServerError(start)
            PQclear(start)
            throw error
        }
        PQclear(start)
        let writer = CopyWriter(connection: self)
        do {
            try await body(writer)
            try writer.flush()
        } catch {
            _ = PQputCopyEnd(handle, "COPY aborted by the client")
            drainResults()
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else {
            let error = PostgresError.copy(message: Self.lastErrorMessage(handle))
            drainResults()
            throw error
        }
        var firstError: PostgresError?
        var copied = 0
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = Int(String(cString: PQcmdTuples(result))) ?? writer.rowsWritten
            } else if firstError == nil {
                firstError = lostOrServerError(result)
            }
            PQclear(result)
        }
        if let firstError { throw firstError }
        return copied
    }

    private func drainResults() {
        while let result = PQgetResult(handle) { PQclear(result) }
    }
}
