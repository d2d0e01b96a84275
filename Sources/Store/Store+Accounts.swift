import Foundation
import BankSyncCore
import Postgres

extension Store {
    /// Finds the customer's bank account the source reports — by normalised IBAN when there is one, else by
    /// the source's account id — and refreshes its metadata and balances (history kept per reference date);
    /// inserts it when it is new. Returns the account id.
    ///
    /// A renewed consent or a new source reports the same IBAN under a new account id: that attaches to the
    /// existing row (its watermark, stored transactions, totals and PULL position), which is active again;
    /// the ids it had stay in `account_source_ids`.
    @discardableResult
    public func upsertAccount(customerID: Int64, _ account: BankAccount, inTransaction: Bool = false) async throws -> Int64 {
        // Inside a caller's transaction (the consent callback) it runs in that one.
        guard !inTransaction else { return try upsertAccountStatements(customerID: customerID, account) }
        // A daily run's usual case — the account is stored and both its keys find that one row — is one statement that
        // looks it up and refreshes the row, its source ids and balances (atomic by itself, one round trip): no
        // transaction of its own. A new account, or an id moving to the account with the IBAN (the statement then
        // changes nothing and returns no row), goes through the transaction below.
        let (prepared, ibanKey) = Self.preparedForStore(account)
        if let existing = try connection.query(Self.refreshKnownAccount, [
            customerID, prepared.sourceAccountID, ibanKey, prepared.currency, try Self.balancesJSON(prepared), prepared.iban, prepared.bic,
            prepared.name, prepared.product, prepared.ownerName,
        ], planning: .perExecution).first {
            return try existing.decode(Int64.self, at: 0)
        }
        return try await connection.withTransaction { try upsertAccountStatements(customerID: customerID, account) }
    }

    /// $1 customer, $2 the source's account id, $3 the IBAN key, $4 currency, $5 balances (`balancesJSON`), $6… IBAN, BIC,
    /// name, product, owner. `lookUpAccount`, then — when both keys find one row, or only one key finds any — that row
    /// refreshed as `findAndUpdateAccount` does (a source omitting the currency never erases the stored one: that would
    /// merge the sub-accounts of a multi-currency account), its source id noted (`noteSourceID`) and its balances stored
    /// (`upsertBalances`).
    /// Returns the account's id, or no row (no account yet, or the id moving to the account with the IBAN).
    static let refreshKnownAccount = """
        WITH found AS (
            SELECT (SELECT a.id FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
                    WHERE $3::text IS NOT NULL AND a.customer_id = $1::bigint AND a.iban_key = $3::text
                      AND (a.currency IS NOT DISTINCT FROM $4::text OR a.currency IS NULL OR $4::text IS NULL)
                    ORDER BY a.active DESC, (a.currency IS NOT DISTINCT FROM $4::text) DESC, w.last_pull_at DESC NULLS LAST, a.id DESC
                    LIMIT 1) AS by_iban,
                   (SELECT id FROM accounts WHERE customer_id = $1::bigint AND source_account_id = $2::text) AS by_source
        ), target AS (
            SELECT COALESCE(by_iban, by_source) AS id FROM found WHERE by_iban IS NULL OR by_source IS NULL OR by_iban = by_source
        ), refreshed AS (
            UPDATE accounts a SET source_account_id = $2::text, iban = COALESCE($6::text, a.iban), iban_key = COALESCE($3::text, a.iban_key),
                   bic = COALESCE($7::text, a.bic), currency = COALESCE($4::text, a.currency), name = $8::text, product = $9::text,
                   owner_name = $10::text, updated_at = now(), active = true, inactive_since = NULL
            FROM target WHERE a.id = target.id
            RETURNING a.id
        ), seen AS (
            INSERT INTO account_source_ids (account_id, source, source_ref, source_account_id)
                SELECT r.id, c.source, c.source_ref, $2::text FROM refreshed r, customers c WHERE c.id = $1::bigint
                ON CONFLICT (account_id, source_ref, source_account_id) DO UPDATE SET last_seen_at = now()
        ), balanced AS (
            INSERT INTO balances (account_id, type, currency, reference_date, amount_minor, dated_by)
            SELECT r.id, b.type, b.currency, b.reference_date, b.amount_minor, b.dated_by
            FROM refreshed r, jsonb_to_recordset($5::jsonb) AS b(type text, currency text, reference_date date, amount_minor bigint, dated_by text)
            ON CONFLICT (account_id, type, currency, reference_date)
            DO UPDATE SET amount_minor = EXCLUDED.amount_minor, dated_by = EXCLUDED.dated_by, fetched_at = now()
        )
        SELECT id FROM refreshed
        """

    /// The account as stored, and its normalised IBAN. Flowpay requires a BIC: where the bank gives none, the one its
    /// bank code stands for (CZ, SK), stored so the outbox and the lag report see the same account the accounts call sends.
    static func preparedForStore(_ account: BankAccount) -> (BankAccount, String?) {
        let ibanKey = Normalization.iban(account.iban)
        var account = account
        account.bic = account.bic ?? BankCodeDirectory.bic(forIBAN: ibanKey)
        return (account, ibanKey)
    }

    /// The balances parameter of `upsertBalances`: the last of each type, currency and day.
    static func balancesJSON(_ account: BankAccount) throws -> JSONText {
        var latest: [String: Balance] = [:]
        for balance in account.balances { latest["\(balance.kind.rawValue)|\(balance.amount.currency.code)|\(balance.referenceDate)"] = balance }
        let balances = latest.values.map { balance -> [String: Any] in
            ["type": balance.kind.rawValue, "currency": balance.amount.currency.code, "reference_date": balance.referenceDate.description,
             "amount_minor": balance.amount.minorUnits, "dated_by": balance.datedBy.rawValue]
        }
        return JSONText(String(decoding: try JSONSerialization.data(withJSONObject: balances), as: UTF8.self))
    }

    /// $1 account, $2 the source's account id, $3 customer: the source id seen (a CTE's body).
    static let noteSourceID = """
        INSERT INTO account_source_ids (account_id, source, source_ref, source_account_id)
            SELECT $1, c.source, c.source_ref, $2 FROM customers c WHERE c.id = $3
            ON CONFLICT (account_id, source_ref, source_account_id) DO UPDATE SET last_seen_at = now()
        """

    /// $1 account, $4 the balances (`balancesJSON`): each stored, or refreshed where its type, currency and day are.
    static let upsertBalances = """
        INSERT INTO balances (account_id, type, currency, reference_date, amount_minor, dated_by)
        SELECT $1, b.type, b.currency, b.reference_date, b.amount_minor, b.dated_by
        FROM jsonb_to_recordset($4::jsonb) AS b(type text, currency text, reference_date date, amount_minor bigint, dated_by text)
        ON CONFLICT (account_id, type, currency, reference_date)
        DO UPDATE SET amount_minor = EXCLUDED.amount_minor, dated_by = EXCLUDED.dated_by, fetched_at = now()
        """

    private func upsertAccountStatements(customerID: Int64, _ account: BankAccount) throws -> Int64 {
        let (account, ibanKey) = Self.preparedForStore(account)
        var accountID: Int64?
        // At most twice round: a concurrent writer (a consent callback while a sync runs) that inserts the same
        // account first makes our insert do nothing (the unique key `accounts_identity`, migration 0021, or
        // the source id's), and the second look finds its row — this statement sees what committed before it.
        for _ in 0..<2 where accountID == nil {
            accountID = try findAndUpdateAccount(customerID: customerID, account, ibanKey: ibanKey)
            guard accountID == nil else { break }
            accountID = try connection.query("""
                INSERT INTO accounts (customer_id, source_account_id, iban, iban_key, bic, currency, name, product, owner_name)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT DO NOTHING
                RETURNING id
                """, [customerID, account.sourceAccountID, account.iban, ibanKey, account.bic, account.currency, account.name,
                      account.product, account.ownerName]).first.map { try $0.decode(Int64.self, at: 0) }
        }
        guard let accountID else {
            throw PostgresError.noRows(statement: "upsert of account \(account.sourceAccountID): neither found nor inserted")
        }
        // The source ids seen and the balances (the last of each type, currency and day), in one statement.
        try connection.execute("""
            WITH seen AS (
                \(Self.noteSourceID)
            )
            \(Self.upsertBalances)
            """, [accountID, account.sourceAccountID, customerID, try Self.balancesJSON(account)], planning: .perExecution)
        return accountID
    }

    /// The current consent reported exactly `reported` of the customer's accounts: the others become inactive
    /// (left out of the accounts call, the lag report and /metrics; their stored data stays). Returns the
    /// accounts deactivated now.
    @discardableResult
    public func deactivateAccounts(customerID: Int64, notIn reported: [Int64], runID: Int64?) throws -> [Int64] {
        // A consent reporting no account at all (just linked, the bank still preparing) says nothing reliable.
        guard !reported.isEmpty else { return [] }
        let list = Self.bigintArray(reported)
        let gone = try connection.query("""
            UPDATE accounts SET active = false, inactive_since = now()
            WHERE customer_id = $1 AND active AND NOT (id = ANY($2::bigint[]))
            RETURNING id, COALESCE(iban, source_account_id)
            """, [customerID, list])
        var ids: [Int64] = []
        for row in gone {
            let id = try row.decode(Int64.self, at: 0)
            ids.append(id)
            try recordEvent(customerID: customerID, accountID: id, runID: runID, level: .info, code: "account_inactive",
                            message: "account \(try row.decode(String.self, at: 1)) is no longer reported by the current consent")
        }
        return ids
    }

    /// Accounts the current consent no longer reports, with since when.
    public func inactiveAccounts(customerID: Int64) throws -> [(label: String, since: Date)] {
        try connection.query("""
            SELECT COALESCE(iban, source_account_id), COALESCE(inactive_since, updated_at) FROM accounts
            WHERE customer_id = $1 AND NOT active ORDER BY id
            """, [customerID]).map { (try $0.decode(String.self, at: 0), try $0.decode(Date.self, at: 1)) }
    }

    /// The stored details of the customer's active accounts by the source's account id (no balances): what a
    /// daily run reuses instead of asking the source again (`KnownAccounts`).
    public func storedAccountDetails(customerID: Int64) throws -> [String: BankAccount] {
        var details: [String: BankAccount] = [:]
        for row in try connection.query("""
            SELECT source_account_id, iban, bic, currency, name, product, owner_name FROM accounts WHERE customer_id = $1 AND active
            """, [customerID]) {
            let account = BankAccount(sourceAccountID: try row.decode(at: 0), iban: try row.decode(at: 1), bic: try row.decode(at: 2),
                                      currency: try row.decode(at: 3), name: try row.decode(at: 4), product: try row.decode(at: 5),
                                      ownerName: try row.decode(at: 6))
            details[account.sourceAccountID] = account
        }
        return details
    }

    /// The day through which every booked transaction of the account is stored; nil before its first sync.
    public func bookedThrough(accountID: Int64) throws -> Day? {
        try connection.query("SELECT booked_through FROM watermarks WHERE account_id = $1", [accountID])
            .first?.decode(Day?.self, at: 0)
    }
}

extension Store {
    /// The customer's stored account for `account` — by normalised IBAN (and currency), else by the source's
    /// account id — refreshed with what the source reports now; nil when there is none yet.
    /// The customer's stored account with the normalised IBAN (and currency), and the one with the source's account id.
    /// Sub-accounts of a multi-currency account share its IBAN: the currency tells them apart. Both lookups in one
    /// round trip.
    fileprivate func lookUpAccount(customerID: Int64, _ account: BankAccount, ibanKey: String?) throws -> (byIBAN: Int64?, bySourceID: Int64?) {
        let found = try connection.query("""
            SELECT (SELECT a.id FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
                    WHERE $2::text IS NOT NULL AND a.customer_id = $1 AND a.iban_key = $2
                      AND (a.currency IS NOT DISTINCT FROM $3 OR a.currency IS NULL OR $3::text IS NULL)
                    ORDER BY a.active DESC, (a.currency IS NOT DISTINCT FROM $3) DESC, w.last_pull_at DESC NULLS LAST, a.id DESC
                    LIMIT 1),
                   (SELECT id FROM accounts WHERE customer_id = $1 AND source_account_id = $4)
            """, [customerID, ibanKey, account.currency, account.sourceAccountID], planning: .perExecution).first
        return (try found?.decode(Int64?.self, at: 0), try found?.decode(Int64?.self, at: 1))
    }

    fileprivate func findAndUpdateAccount(customerID: Int64, _ account: BankAccount, ibanKey: String?) throws -> Int64? {
        let (byIBAN, bySourceID) = try lookUpAccount(customerID: customerID, account, ibanKey: ibanKey)
        if let byIBAN, let bySourceID, byIBAN != bySourceID {
            // The id moved to the account with this IBAN: the other row gives it up (kept, inactive).
            try connection.execute("""
                UPDATE accounts SET source_account_id = source_account_id || ' (superseded by account ' || $2 || ')',
                       active = false, inactive_since = COALESCE(inactive_since, now())
                WHERE id = $1
                """, [bySourceID, String(byIBAN)])
        }
        guard let existing = byIBAN ?? bySourceID else { return nil }
        // A source that omits the currency this time never erases the stored one: that would merge the
        // sub-accounts of a multi-currency account (the lookup above takes a NULL currency as "any").
        try connection.execute("""
            UPDATE accounts SET source_account_id = $2, iban = COALESCE($3, iban), iban_key = COALESCE($4, iban_key),
                   bic = COALESCE($5, bic), currency = COALESCE($6, currency), name = $7, product = $8, owner_name = $9,
                   updated_at = now(), active = true, inactive_since = NULL
            WHERE id = $1
            """, [existing, account.sourceAccountID, account.iban, ibanKey, account.bic, account.currency, account.name,
                  account.product, account.ownerName])
        return existing
    }
}
