import BankSyncCore
import Foundation

/// One account window's fetched transactions, kept until the fetch has ended well, so the ingest's database
/// transaction opens only then and never waits on a bank (a transaction held open across HTTP paging would
/// freeze `pg_snapshot_xmin`, and every PULL feed with it, while one slow bank answers).
///
/// Up to `memoryRows` rows stay in memory (a daily window); beyond that every row spills to a temporary file
/// that is unlinked as soon as it is created (a crash leaves nothing behind) and read back in pages, so a
/// 200,000-row backfill costs disk, not memory.
public final class FetchSpool {
    public enum Problem: Error, CustomStringConvertible {
        case file(String)
        case corrupt
        case tooManyRows(Int)

        public var description: String {
            switch self {
            case .file(let detail): "the fetch spool file failed: \(detail)"
            case .corrupt: "the fetch spool file did not read back as written"
            case .tooManyRows(let limit): "the source sent more than \(limit) rows for one window; not stored"
            }
        }
    }

    let memoryRows: Int
    let directory: String
    private var held: [BankTransaction] = []
    private var file: Int32 = -1
    private var pending: [UInt8] = []
    public private(set) var count = 0

    public init(memoryRows: Int = 5_000, directory: String = NSTemporaryDirectory()) {
        self.memoryRows = memoryRows
        self.directory = directory
    }

    deinit {
        if file >= 0 { close(file) }
    }

    /// Drains a window's pages into a new spool; the source's error, if any, is thrown and the spool dropped.
    /// A cancelled task's stream simply ends, so cancellation is checked after the last page: a fetch cut short
    /// by a shutdown is never taken for a whole window (its watermark would move past what it did not read).
    /// More than `maxRows` rows is refused (a source that never stops sending fills no disk).
    public static func filled<Pages: AsyncSequence>(from pages: Pages, memoryRows: Int = 5_000,
                                                    maxRows: Int = FetchSpool.maxRows) async throws -> FetchSpool
        where Pages.Element == [BankTransaction] {
        let spool = FetchSpool(memoryRows: memoryRows)
        for try await page in pages {
            try spool.append(page)
            guard spool.count <= maxRows else { throw Problem.tooManyRows(maxRows) }
        }
        try Task.checkCancellation()
        try spool.flush()
        return spool
    }

    /// Rows one window may hold: 730 days of a very busy account are about 200,000.
    public static let maxRows = 2_000_000

    public func append(_ page: [BankTransaction]) throws {
        count += page.count
        if file < 0, held.count + page.count <= memoryRows {
            held += page
            return
        }
        if file < 0 {
            try openFile()
            for transaction in held { SpoolRecord.encode(transaction, into: &pending) }
            held = []
        }
        for transaction in page { SpoolRecord.encode(transaction, into: &pending) }
        if pending.count >= 1 << 20 { try flush() }
    }

    /// The rows in fetch order, `size` at a time.
    public func pages(size: Int = 1_000) -> Pages { Pages(spool: self, size: size) }

    public struct Pages: AsyncSequence {
        public typealias Element = [BankTransaction]
        let spool: FetchSpool
        let size: Int

        public func makeAsyncIterator() -> Iterator { Iterator(spool: spool, size: size) }

        public struct Iterator: AsyncIteratorProtocol {
            let spool: FetchSpool
            let size: Int
            var offset = 0
            var buffer: [UInt8] = []
            var position = 0
            var atEnd = false

            public mutating func next() async throws -> [BankTransaction]? {
                if spool.file < 0 {
                    guard offset < spool.held.count else { return nil }
                    let end = Swift.min(offset + size, spool.held.count)
                    defer { offset = end }
                    return Array(spool.held[offset..<end])
                }
                var page: [BankTransaction] = []
                while page.count < size {
                    if let transaction = try SpoolRecord.decode(buffer, at: &position) {
                        page.append(transaction)
                        continue
                    }
                    guard !atEnd else {
                        guard position == buffer.count else { throw Problem.corrupt }
                        break
                    }
                    buffer.removeFirst(position)
                    position = 0
                    let read = try spool.read(at: offset, into: &buffer)
                    offset += read
                    atEnd = read == 0
                }
                return page.isEmpty ? nil : page
            }
        }
    }

    private func openFile() throws {
        let path = (directory as NSString).appendingPathComponent("banksync-fetch-\(UUID().uuidString).spool")
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Problem.file("cannot create \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        file = descriptor
    }

    func flush() throws {
        guard file >= 0, !pending.isEmpty else { return }
        var written = 0
        while written < pending.count {
            let result = pending.withUnsafeBytes { write(file, $0.baseAddress! + written, $0.count - written) }
            guard result > 0 else { throw Problem.file("write: \(String(cString: strerror(errno)))") }
            written += result
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Appends up to 1 MiB read from `offset` to `buffer`; 0 at the end of the file.
    func read(at offset: Int, into buffer: inout [UInt8]) throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let result = chunk.withUnsafeMutableBytes { pread(file, $0.baseAddress, $0.count, off_t(offset)) }
        guard result >= 0 else { throw Problem.file("read: \(String(cString: strerror(errno)))") }
        buffer += chunk[0..<result]
        return result
    }
}

/// A transaction as one length-prefixed binary record: every field, already normalised, read back exactly.
enum SpoolRecord {
    static func encode(_ transaction: BankTransaction, into out: inout [UInt8]) {
        let start = out.count
        out += [0, 0, 0, 0]
        out.append(transaction.status == .booked ? 0 : 1)
        day(transaction.bookingDate, into: &out)
        day(transaction.valueDate, into: &out)
        integer(UInt64(bitPattern: transaction.amount.minorUnits), bytes: 8, into: &out)
        text(transaction.amount.currency.code, into: &out)
        for field in [transaction.counterpartyIBAN, transaction.counterpartyName, transaction.remittance,
                      transaction.bankTransactionCode, transaction.sourceID, transaction.rawJSON] {
            if let field {
                out.append(1)
                text(field, into: &out)
            } else {
                out.append(0)
            }
        }
        if let version = transaction.mappingVersion {
            out.append(1)
            integer(UInt64(bitPattern: version), bytes: 8, into: &out)
        } else {
            out.append(0)
        }
        let length = UInt32(out.count - start - 4)
        for index in 0..<4 { out[start + index] = UInt8(truncatingIfNeeded: length >> (8 * index)) }
    }

    /// The record at `position` (moved past it), or nil when `bytes` does not hold a whole one yet.
    static func decode(_ bytes: [UInt8], at position: inout Int) throws -> BankTransaction? {
        guard bytes.count - position >= 4 else { return nil }
        let length = Int(lengthPrefix(bytes, at: position))
        guard bytes.count - position - 4 >= length else { return nil }
        var cursor = position + 4
        let end = cursor + length
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard cursor + count <= end else { throw FetchSpool.Problem.corrupt }
            defer { cursor += count }
            return bytes[cursor..<cursor + count]
        }
        func takeInteger(_ count: Int) throws -> UInt64 {
            var value: UInt64 = 0
            for (index, byte) in try take(count).enumerated() { value |= UInt64(byte) << (8 * index) }
            return value
        }
        func takeDay() throws -> Day? {
            guard try take(1).first == 1 else { return nil }
            return Day(daysSinceEpoch: Int(Int32(bitPattern: UInt32(try takeInteger(4)))))
        }
        func takeText() throws -> String {
            let count = Int(try takeInteger(4))
            return String(decoding: try take(count), as: UTF8.self)
        }
        func takeOptionalText() throws -> String? { try take(1).first == 1 ? try takeText() : nil }
        let status: BankTransaction.Status = try take(1).first == 0 ? .booked : .pending
        let bookingDate = try takeDay()
        let valueDate = try takeDay()
        let minor = Int64(bitPattern: try takeInteger(8))
        guard let currency = try? Currency(code: try takeText()) else { throw FetchSpool.Problem.corrupt }
        var transaction = BankTransaction(status: status, bookingDate: bookingDate, valueDate: valueDate,
                                          amount: Money(minorUnits: minor, currency: currency))
        transaction.counterpartyIBAN = try takeOptionalText()
        transaction.counterpartyName = try takeOptionalText()
        transaction.remittance = try takeOptionalText()
        transaction.bankTransactionCode = try takeOptionalText()
        transaction.sourceID = try takeOptionalText()
        transaction.rawJSON = try takeOptionalText()
        if try take(1).first == 1 { transaction.mappingVersion = Int64(bitPattern: try takeInteger(8)) }
        guard cursor == end else { throw FetchSpool.Problem.corrupt }
        position = end
        return transaction
    }

    private static func day(_ day: Day?, into out: inout [UInt8]) {
        guard let day else { return out.append(0) }
        out.append(1)
        integer(UInt64(UInt32(bitPattern: Int32(day.daysSinceEpoch))), bytes: 4, into: &out)
    }

    private static func text(_ text: String, into out: inout [UInt8]) {
        let utf8 = Array(text.utf8)
        integer(UInt64(utf8.count), bytes: 4, into: &out)
        out += utf8
    }

    private static func integer(_ value: UInt64, bytes: Int, into out: inout [UInt8]) {
        for index in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    private static func lengthPrefix(_ bytes: [UInt8], at position: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[position + $1]) << (8 * $1) }
    }
}
