import BankSyncCore
import Foundation

/// The one way a source's raw transaction becomes a `BankTransaction`, and so its keys (`DedupKey`): the live read
/// (`TransactionDocumentReader`, `FioMapping.statement`) and the re-mapping of stored rows (`MappingUpgrade`,
/// SyncEngine) both go through the mappings here, so a stored row mapped again from its raw JSON gets exactly the
/// keys a fresh read of the same booking gets.
///
/// **`version` is bumped with every change to what a mapping reads or how it normalises** (a field read, a
/// fallback, a normalisation in `BankTransaction`/`Normalization`): the worker then maps every stored row of an older
/// version again from its raw JSON and recomputes its keys, keeping its Flowpay id (docs/IDENTITY.md, "Mapping
/// versions"). One number covers every source's mapping: a bump re-maps every stored row once, in batches.
public enum TransactionMapping {
    /// 1: the mapping of migration 0027's release (counterparty from `iban`, `bban`, `other.identification`,
    /// `maskedPan`, `pan`; `remittanceInformationStructuredArray`; `valueDateTime`; `bookingDateTime`; NUL removed).
    public static let version: Int64 = 1

    /// A stored row mapped again by the current mapping: `raw` as stored (jsonb text), the row's stored `status`
    /// and source id (the identity a source gave it stays as stored; the id field a source reads is a setting,
    /// not a normalisation). Berlin Group and GoCardless rows hold `transactionAmount`, Fio movements `columnN`.
    /// Throws `.malformed` for a row no mapping reads.
    public static func remap(raw: String, status: BankTransaction.Status, sourceID: String?,
                             accountCurrency: String?) throws(SourceError) -> BankTransaction {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(raw.utf8))) as? [String: Any] else {
            throw .malformed(account: nil, field: "raw", detail: "the stored raw row is not a JSON object")
        }
        var transaction: BankTransaction
        if json["transactionAmount"] != nil {
            transaction = try BerlinGroupMapping.transaction(json, status: status, account: "stored", index: 0, idFields: [], rawJSON: raw)
        } else if json["column1"] != nil || json["column0"] != nil {
            transaction = try FioMapping.transaction(json, index: 0, account: "stored", accountCurrency: accountCurrency)
            transaction.rawJSON = raw
        } else {
            throw .malformed(account: nil, field: "raw", detail: "neither a Berlin Group transaction nor a Fio movement")
        }
        transaction.sourceID = sourceID
        return transaction
    }
}
