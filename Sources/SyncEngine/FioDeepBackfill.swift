import Aggregators
import BankSyncCore
import Foundation
import Store

/// Fio's 90-day lock lifted for 10 minutes: right after the account holder authorised it in Internetbanking, the
/// history beyond 90 days is read, oldest piece first, each call through the token's slot (30 s apart: here,
/// in an interactive command, the wait is slept — no worker is held), each piece committed with its watermark.
extension CustomerSync {
    public struct DeepBackfill: Sendable {
        public var calls = 0
        public var newBooked = 0
        public var duplicates = 0
    }

    /// Reads `[today − days, today]` in pieces of at most `pieceDays` days. Stops at the first refusal: a 422 (the
    /// authorisation is missing or its 10 minutes ran out) is thrown as `SourceError.deferred` (`.historyLocked`).
    public func fioDeepBackfill(_ record: CustomerRecord, days: Int, pieceDays: Int, runID: Int64,
                                progress: @Sendable (SyncWindow) -> Void = { _ in }) async throws -> DeepBackfill {
        let source = try await sources.source(for: record, session: store, today: today, fioHistoryDays: days + 1)
        var result = DeepBackfill()
        let whole = SyncWindow(from: today.adding(days: -days), to: today, isFirstSync: true)
        // Never a first sync's straight COPY: the recent 90 days are stored already.
        let pieces = whole.pieces(ofDays: pieceDays, overlap: 0).map { SyncWindow(from: $0.from, to: $0.to, isFirstSync: false) }
        var sourceAccount: SourceAccount?
        for piece in pieces {
            progress(piece)
            while true {
                do {
                    let account: SourceAccount
                    if let sourceAccount {
                        account = sourceAccount
                    } else {
                        let known = KnownAccounts(details: try store.storedAccountDetails(customerID: record.customer.id), today: today)
                        guard let first = try await source.accounts(known: known).accounts.first else {
                            throw SourceError.malformed(account: nil, field: "accountStatement.info", detail: "no account")
                        }
                        account = first
                        sourceAccount = first
                    }
                    let accountID = try await store.upsertAccount(customerID: record.customer.id, account.account)
                    let ingested = try await fetchAndIngest(piece, of: account, from: source, into: AccountRef(id: accountID, customerID: record.customer.id),
                                                            record: record, runID: runID)
                    if let described = source.accountAfterRead(account) {
                        _ = try await store.upsertAccount(customerID: record.customer.id, described)
                    }
                    result.newBooked += ingested.newBooked
                    result.duplicates += ingested.duplicates
                    break
                } catch SourceError.deferred(let deferral) where deferral.reason != .historyLocked {
                    try await Task.sleep(for: .milliseconds(max(20, Int64(deferral.retryAt.timeIntervalSinceNow * 1_000) + 20)))
                }
            }
        }
        result.calls = (source as? FioSource)?.callsMade ?? pieces.count
        try store.updateConsent(customerID: record.customer.id, expiresAt: nil, historyCap: nil)
        try store.recordEvent(customerID: record.customer.id, runID: runID, level: .info, code: "history_backfilled",
                              message: "Fio history of \(days) days read after the holder's authorisation: \(result.newBooked) new bookings in \(pieces.count) piece(s)")
        return result
    }
}
