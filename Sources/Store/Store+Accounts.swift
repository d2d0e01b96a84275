import BankSyncCore
import Postgres

extension Store {
    /// Inserts or refreshes an account's metadata and its balances (history kept per reference date);
    /// returns the account id.
    @discardableResult
    public func upsertAccount(customerID: Int64, _ account: BankAccount) throws -> Int64 {
        let accountID = try connection.queryValue(Int64.self, """
            INSERT INTO accounts (customer_id, source_account_id, iban, bic, currency, name, product, owner_name)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (customer_id, source_account_id) DO UPDATE SET
                iban = EXCLUDED.iban, bic = COALESCE(EXCLUDED.bic, accounts.bic), currency = EXCLUDED.currency,
                name = EXCLUDED.name, product = EXCLUDED.product, owner_name = EXCLUDED.owner_name, updated_at = now()
            RETURNING id
            """, [customerID, account.sourceAccountID, account.iban, account.bic, account.currency, account.name,
                  account.product, account.ownerName])
        for balance in account.balances {
            try connection.execute("""
                INSERT INTO balances (account_id, type, currency, reference_date, amount_minor)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (account_id, type, currency, reference_date)
                DO UPDATE SET amount_minor = EXCLUDED.amount_minor, fetched_at = now()
                """, [accountID, balance.kind.rawValue, balance.amount.currency.code, balance.referenceDate,
                      balance.amount.minorUnits])
        }
        return accountID
    }

    /// The day through which every booked transaction of the account is stored; nil before its first sync.
    public func bookedThrough(accountID: Int64) throws -> Day? {
        try connection.query("SELECT booked_through FROM watermarks WHERE account_id = $1", [accountID])
            .first?.decode(Day?.self, at: 0)
    }
}
