/// Checksums of earlier edits of released migration files (0009, 0010, 0015 and 0019 were changed after they
/// were first committed). A database that applied one of these is accepted by `migrate` with a note instead of
/// being refused as edited: the file it ran is known, and the note says how its schema differs from the
/// current file's. Any other checksum mismatch is still refused.
///
/// The checksums are those `Migration` computes (SHA-256 of the file's bytes), of `git show <commit>:sql/<file>`;
/// MigratorTests recomputes them from the history when it is available. Never add the checksum of a file that
/// was not committed: an edit made on a developer's disk is still refused.
///
/// Released files are also never edited to make them safer: `OnlinePlan` (OnlinePlans.swift) holds the online
/// plans the migrator runs in place of 0009, 0010, 0015, 0016 and 0017 on a database that has not applied them yet.
public struct KnownEarlierEdit: Sendable, Equatable {
    public let version: Int
    public let checksum: String
    /// The commit that last wrote this content (short hash) and its day.
    public let commit: String
    public let day: String
    /// How a database that applied this edit differs from one that applied the current file.
    public let difference: String

    public static let all: [KnownEarlierEdit] = [
        .init(version: 9, checksum: "e916f9207c8f6e545e194f330844e561c92be3141cdb81c8c837a5048d2f9043", commit: "ddff909", day: "2026-11-26",
              difference: "customers.key_generation not bumped to 2; watermarks lacks edits, ids_reused, history_requested_days, "
                  + "history_received_days; transactions.flowpay_id has no default; duplicate renewal accounts not deactivated"),
        .init(version: 9, checksum: "478f857e7f0d48b6001d6d45cf84e1ad913131e411d791507732de793c947c64", commit: "dc39a32", day: "2026-11-26",
              difference: "transactions.flowpay_id has no default; duplicate renewal accounts not deactivated"),
        .init(version: 10, checksum: "3ac8047e47964adacbbcb158f5ce78c423b9826121e3d056cef3368a7e80901c", commit: "1b355fe", day: "2026-11-26",
              difference: "push_batches_state_check lacks 'superseded'; push_quarantine keyed by (account_id, tx_key) without "
                  + "transaction_id; no ingest_quarantine table (0013 fails until it is created as the current 0010 does); "
                  + "no customers.claimed_at"),
        .init(version: 10, checksum: "45194fa0d2c6aa1f04740c7df5c466ba68525ece57f9f3ecd5a925df873c0c9d", commit: "3c58e19", day: "2026-11-26",
              difference: "push_batches_state_check lacks 'superseded'; push_quarantine keyed by (account_id, tx_key) without "
                  + "transaction_id; no customers.claimed_at"),
        .init(version: 10, checksum: "31a96f6d693c6048036824b1bf5ba3b690931b1374ae81266eb128cb44ef5f6a", commit: "032d9a9", day: "2026-11-26",
              difference: "push_quarantine keyed by (account_id, tx_key) without transaction_id; no customers.claimed_at; "
                  + "rejected transaction batches not parked"),
        .init(version: 10, checksum: "6feaebaecd8b79b38faf210f889b23b1ac4d4d6f3683715698fea0930cdf99df", commit: "7b9b2a8", day: "2026-11-26",
              difference: "push_quarantine keyed by (account_id, tx_key) without transaction_id; rejected transaction batches not parked"),
        .init(version: 15, checksum: "95ae8020dfae92109c8ba149f17a9a391db6dfa9faf81e7ed3a4bf863c5238e4", commit: "0d8ab8d", day: "2026-11-26",
              difference: "rows stored before it carry visible_at = arrived_at instead of '-infinity' (same feed order)"),
        .init(version: 19, checksum: "082c397727ca56a26acb4067bfbf34370f368fa50ff6d5391ac5d9dde8dad967", commit: "a7eeab9", day: "2026-11-27",
              difference: "none on PostgreSQL 14 or later (the current file only also runs on PostgreSQL 13)"),
    ]

    /// The known earlier edit of migration `version` with this checksum, if any.
    public static func find(version: Int, checksum: String) -> KnownEarlierEdit? {
        all.first { $0.version == version && $0.checksum == checksum }
    }
}
