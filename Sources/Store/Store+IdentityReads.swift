import BankSyncCore
import Postgres

/// The three reads an ingest's identity checks start from, sent in one round trip: across sources
/// (`switchCandidates`), corrections under stable ids (`sameSourceID`) and possible edits (`editPairs`). Each check
/// used to read after the one before it had written; most fetches write nothing there, so the later reads are taken
/// as they were sent only while every check before them wrote nothing — otherwise that check reads again.
struct IdentityReads {
    var switchCandidates: QueryResult
    var sameSourceID: QueryResult?
    var editPairs: QueryResult
}

extension Store {
    /// One round trip for the reads of `matchAcrossSources`, `recognizeCorrections` (when the source's ids are stable)
    /// and `holdPossibleEdits`, inside the ingest's transaction. A failing read aborts the transaction and throws.
    func identityReads(account: AccountRef, window: SyncWindow, fetchedBookedKeys: [UInt8], released: [UInt8], keyGeneration: Int32,
                       sourceIDsAreStable: Bool) throws -> IdentityReads {
        var statements = [
            PipelinedStatement(Self.switchCandidates, [account.id, account.customerID, fetchedBookedKeys, window.from, window.to,
                                                      keyGeneration, released], planning: .perExecution),
            PipelinedStatement(Self.editPairs, [account.id, fetchedBookedKeys, window.from, window.to, account.customerID, released],
                               planning: .perExecution),
        ]
        if sourceIDsAreStable {
            statements.append(PipelinedStatement(Self.sameSourceID, [account.id, account.customerID, fetchedBookedKeys, window.from,
                                                                     window.to, released], planning: .perExecution))
        }
        let results = try connection.pipeline(statements)
        for result in results { _ = try result.get() }   // the first failure, in order
        return IdentityReads(switchCandidates: try results[0].get(), sameSourceID: sourceIDsAreStable ? try results[2].get() : nil,
                             editPairs: try results[1].get())
    }
}
