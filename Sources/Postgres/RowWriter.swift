/// Takes new rows field by field, in a statement's column order: `CopyWriter` streams them into a running COPY,
/// `ArrayRowsWriter` gathers them as one array per column for a single `INSERT … SELECT FROM unnest(…)`.
public protocol RowWriter: AnyObject {
    func null()
    func field(_ text: String?)
    func field(_ value: Int64?)
    func field(_ date: PostgresDate?)
    func field<Bytes: Collection<UInt8>>(bytes: Bytes?)
    func endRow() throws
}

extension CopyWriter: RowWriter {}
