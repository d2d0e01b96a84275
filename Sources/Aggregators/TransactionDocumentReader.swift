import BankSyncCore
import Foundation

/// Reads one transactions answer (a GoCardless history, a Berlin Group page) as its bytes arrive: each element
/// of `transactions.booked` and `transactions.pending` is parsed and mapped on its own and handed out in pages,
/// so memory holds one element's tree and one page, never the document's. A row the mapping refuses goes to
/// `refused`; a row that is not a JSON object, or a document that is not JSON, fails the answer.
///
/// Pages are handed out before the document is known to be whole: a consumer keeps them aside (the fetch spool)
/// until `finish` has accepted the document.
final class TransactionDocumentReader {
    static let arrays: Set<[String]> = [["transactions", "booked"], ["transactions", "pending"]]

    let account: String
    let bookedIDFields: [String]
    let refused: RefusedRowCollector
    let pageSize: Int
    private var splitter = JSONArraySplitter(arrays: TransactionDocumentReader.arrays)
    private var page: [BankTransaction] = []
    private var refusedRows: [RefusedRow] = []
    private(set) var rows = 0

    init(account: String, bookedIDFields: [String], refused: RefusedRowCollector, pageSize: Int = 500) {
        self.account = account
        self.bookedIDFields = bookedIDFields
        self.refused = refused
        self.pageSize = pageSize
    }

    /// The next bytes of the answer; `deliver` gets each full page.
    func feed<Bytes: Sequence>(_ bytes: Bytes, what: String, deliver: ([BankTransaction]) -> Void) throws(SourceError)
        where Bytes.Element == UInt8 {
        do {
            try splitter.feed(bytes) { path, index, element in
                try self.read(element, status: path.last == "booked" ? .booked : .pending, index: index)
                if self.page.count >= self.pageSize {
                    deliver(self.page)
                    self.page.removeAll(keepingCapacity: true)
                }
            }
        } catch let error as SourceError {
            throw error
        } catch let problem as JSONArraySplitter.Problem {
            throw .malformed(account: account, field: what, detail: "\(problem)")
        } catch {
            throw .malformed(account: account, field: what, detail: "\(error)")
        }
    }

    /// The end of the answer: the last page, and the document without its transaction arrays (`_links`…),
    /// which must be a JSON object holding a `transactions` object.
    func finish(what: String, deliver: ([BankTransaction]) -> Void) throws(SourceError) -> [String: Any] {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(splitter.skeleton)) else {
            throw .malformed(account: account, field: what, detail: "not valid JSON")
        }
        guard let document = parsed as? [String: Any] else {
            throw .malformed(account: account, field: what, detail: "expected a JSON object")
        }
        guard let container = document["transactions"] as? [String: Any] else {
            throw .malformed(account: account, field: "transactions", detail: "expected an object with booked and pending")
        }
        for status in ["booked", "pending"] where container[status] != nil {
            // Read as they streamed, the arrays are empty here; one that is not (its key spelled with escapes)
            // was not read, and the answer is refused rather than stored short.
            guard let rows = container[status] as? [Any], rows.isEmpty else {
                throw .malformed(account: account, field: "transactions.\(status)", detail: "expected an array of objects, read as it streams")
            }
        }
        if !page.isEmpty {
            deliver(page)
            page = []
        }
        refused.add(refusedRows)
        refusedRows = []
        return document
    }

    /// Whether a number outside the strings has an exponent (a digit followed by `e`/`E`).
    static func mayHoldExponent(_ bytes: [UInt8]) -> Bool {
        var inString = false, escaped = false, previousWasDigit = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true; previousWasDigit = false; continue }
            if previousWasDigit, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { return true }
            previousWasDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }
        return false
    }

    private func read(_ element: [UInt8], status: BankTransaction.Status, index: Int) throws(SourceError) {
        let place = "transactions.\(status.rawValue)[\(index)]"
        guard let json = (try? JSONSerialization.jsonObject(with: Data(element))) as? [String: Any] else {
            throw .malformed(account: account, field: place, detail: "expected a JSON object")
        }
        rows += 1
        do {
            // The element's own bytes are the raw JSON: writing it again (keys sorted by Foundation, through ICU
            // collation) was the worker's largest cost in a fleet backfill.
            // A number with an exponent may be one PostgreSQL's jsonb refuses (1e-20000): such rows are written again.
            page.append(try BerlinGroupMapping.transaction(json, status: status, account: account, index: index,
                                                           idFields: status == .booked ? bookedIDFields : [],
                                                           rawJSON: Self.mayHoldExponent(element) ? nil : String(decoding: element, as: UTF8.self)))
        } catch {
            guard case .malformed(_, let field, let detail) = error else { throw error }
            let raw = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
            refusedRows.append(RefusedRow(account: account, field: field, reason: detail, rawJSON: raw ?? "{}"))
        }
    }
}
