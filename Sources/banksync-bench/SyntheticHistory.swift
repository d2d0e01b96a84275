import BankSyncCore
import Foundation
import Postgres
import Store

/// Deterministic synthetic bank histories, generated on the fly page by page (never all in memory).
struct SyntheticHistory {
    let accounts: Int
    let perAccount: Int
    let days: Int
    let today = Day(iso: "2026-11-25")!
    let currency = try! Currency(code: "CZK")
    let pageSize = 500
    var total: Int { accounts * perAccount }
    var window: SyncWindow { SyncWindow(from: today.adding(days: -days + 1), to: today, isFirstSync: true) }

    static let names = ["ČEZ a.s.", "Tesco Stores ČR", "Alza.cz a.s.", "Kavárna Slavia", "Flowpay s.r.o.", "O2 Czech Republic"]

    func transaction(account: Int, index: Int) -> BankTransaction {
        let day = today.adding(days: -(index * days / perAccount))
        let amount = Int64((account * 7919 + index * 104_729) % 2_000_000) - 1_000_000
        let name = Self.names[(account + index) % Self.names.count]
        return BankTransaction(
            status: .booked, bookingDate: day, valueDate: day, amount: Money(minorUnits: amount, currency: currency),
            counterpartyIBAN: "CZ650800000019200014" + String(1000 + index % 9000), counterpartyName: name,
            remittance: "Payment \(index) for order \(account)-\(index)", bankTransactionCode: "PMNT-RCDT-ESCT",
            sourceID: nil,
            rawJSON: #"{"transactionAmount":{"amount":"\#(amount)","currency":"CZK"},"bookingDate":"\#(day)"}"#)
    }

    func pages(account: Int, keep: @escaping @Sendable (Int) -> Bool) -> SyntheticPages {
        SyntheticPages(history: self, account: account, keep: keep)
    }

    func createAccounts(_ store: Store) async throws -> [AccountRef] {
        var refs: [AccountRef] = []
        for index in 0..<accounts {
            let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "bench-\(index)", source: .gocardless, sourceRef: "bench")
            let account = try await store.upsertAccount(customerID: customer, BankAccount(sourceAccountID: "acc-\(index)", iban: "CZ6508000000192000145399", currency: "CZK"))
            refs.append(AccountRef(id: account, customerID: customer))
        }
        return refs
    }

    /// One ingest per account over its whole window; returns rows offered.
    func ingest(_ store: Store, _ refs: [AccountRef], keep: @escaping @Sendable (Int) -> Bool) async throws -> Int {
        var offered = 0
        for (index, ref) in refs.enumerated() {
            let result = try await store.ingest(account: ref, window: window, sourceIDsAreStable: false, pages: pages(account: index, keep: keep))
            offered += result.fetched
        }
        return offered
    }

    /// What the limit table carries besides its rows.
    enum LimitIndexes {
        case none
        /// The dedup unique index only: the issue's write limit.
        case dedupOnly
        /// Every index `transactions` has (dedup primary key, outbox, feed, BRIN on booking date):
        /// the write limit of the table ingest really writes.
        case likeTransactions
    }

    /// The write limit: the same rows, keys computed client-side, COPYed straight into an empty table
    /// shaped like `transactions`, one COPY per account.
    func plainCopy(_ url: String, indexes: LimitIndexes) async throws -> Int {
        let connection = try PostgresConnection.connect(url)
        defer { connection.close() }
        try connection.execute("DROP TABLE IF EXISTS bench_copy")
        try connection.execute("""
            CREATE TABLE bench_copy (account_id bigint NOT NULL, customer_id bigint NOT NULL, tx_key bytea NOT NULL,
                status text NOT NULL, booking_date date, value_date date, amount_minor bigint NOT NULL, currency text NOT NULL,
                counterparty_iban text, counterparty_name text, remittance text, bank_tx_code text, source_tx_id text,
                raw jsonb, push_state text)
            """)
        if indexes != .none { try connection.execute("CREATE UNIQUE INDEX ON bench_copy (account_id, tx_key)") }
        if indexes == .likeTransactions {
            try connection.execute("""
                ALTER TABLE bench_copy ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
                    ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT pg_current_xact_id()
                """)
            try connection.execute("CREATE INDEX ON bench_copy (customer_id, id) WHERE push_state = 'queued'")
            try connection.execute("CREATE INDEX ON bench_copy (customer_id, ingest_xid, id)")
            try connection.execute("CREATE INDEX ON bench_copy USING brin (booking_date)")
        }
        var copied = 0
        for account in 0..<accounts {
            var keys = WindowKeys(sourceIDsAreStable: false)   // the keying ingest itself uses
            copied += try await connection.copyIn("""
                COPY bench_copy (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                    counterparty_iban, counterparty_name, remittance, bank_tx_code, source_tx_id, raw, push_state) FROM STDIN
                """) { writer in
                for index in 0..<perAccount {
                    let transaction = transaction(account: account, index: index)
                    writer.field(Int64(account)); writer.field(Int64(account))
                    writer.field(bytes: keys.key(for: transaction))
                    writer.field("booked")
                    let (y, m, d) = transaction.bookingDate!.civil
                    writer.field(PostgresDate(year: y, month: m, day: d)); writer.field(PostgresDate(year: y, month: m, day: d))
                    writer.field(transaction.amount.minorUnits); writer.field("CZK")
                    writer.field(transaction.counterpartyIBAN); writer.field(transaction.counterpartyName)
                    writer.field(transaction.remittance); writer.field(transaction.bankTransactionCode)
                    writer.field(nil as String?); writer.field(transaction.rawJSON); writer.field("queued")
                    try writer.endRow()
                }
            }
        }
        try connection.execute("DROP TABLE bench_copy")
        return copied
    }
}

/// An account's synthetic transactions as pages, generated when asked for.
struct SyntheticPages: AsyncSequence {
    typealias Element = [BankTransaction]
    let history: SyntheticHistory
    let account: Int
    let keep: @Sendable (Int) -> Bool

    struct AsyncIterator: AsyncIteratorProtocol {
        let pages: SyntheticPages
        var position = 0

        mutating func next() async -> [BankTransaction]? {
            let history = pages.history
            guard position < history.perAccount else { return nil }
            let end = Swift.min(position + history.pageSize, history.perAccount)
            defer { position = end }
            return (position..<end).filter(pages.keep).map { history.transaction(account: pages.account, index: $0) }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: self) }
}
