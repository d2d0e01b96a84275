/// Online plans for released migrations whose file does its heavy work in one long transaction (see
/// `KnownEarlierEdit` for the other kind of history kept about released files). Released files are never edited
/// (`sql/CHECKSUMS`); instead, when a database has not applied one of these yet, the migrator runs the plan in
/// its place: the same end state (schema and data), reached with short locks — a batched backfill in many small
/// transactions, `NOT VALID` then `VALIDATE CONSTRAINT`, `CREATE INDEX CONCURRENTLY`. The migration is recorded
/// under the released file's name and checksum once the plan's last step finished, so every later build sees
/// the released migration applied. A plan is used only for the exact released file (its checksum): a file
/// that differs runs as it is written, and so does every file on a database whose `transactions` is empty (a new
/// installation: nothing to wait for, and fewer round trips).
///
/// What a plan must keep: the statements and the order of the columns they add, the names of constraints and
/// indexes, and what every backfilled value is computed from — only how the work is executed differs. A test
/// migrates a 0008-era database both ways and compares `pg_dump --schema-only` and the data.
public struct OnlinePlan: Sendable {
    public let version: Int
    /// The released file's checksum (`sql/CHECKSUMS`): the plan replaces only that content.
    public let releasedChecksum: String
    /// The plan, written as a `-- banksync: steps` migration.
    public let sql: String

    public var steps: [MigrationStep] { (try? MigrationStep.parse(sql, file: "online plan \(version)")) ?? [] }

    /// 0009's content keys and Flowpay ids for the rows of accounts `($1, $2]` that have none, as the released file
    /// computes them (ordinals counted over each account's whole history); `accountsFilter` narrows the accounts.
    static func contentKeyBackfill(accountsFilter: String) -> String {
        """
        WITH fingerprinted AS (
            SELECT account_id, tx_key, id, content_key IS NULL AS missing,
                   sha256('\\x667000'::bytea
                          || convert_to(status, 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(to_char(booking_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(to_char(value_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\\x1f'::bytea
                          || convert_to(amount_minor::text, 'UTF8') || '\\x1f'::bytea
                          || convert_to(currency, 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(counterparty_iban, ''), 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(counterparty_name, ''), 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(remittance, ''), 'UTF8') || '\\x1f'::bytea
                          || convert_to(coalesce(bank_tx_code, ''), 'UTF8')) AS fingerprint
            FROM transactions
            WHERE account_id > $1 AND account_id <= $2 \(accountsFilter)
        ), ordered AS (
            SELECT account_id, tx_key, missing,
                   sha256(fingerprint || int4send(row_number() OVER (PARTITION BY account_id, fingerprint ORDER BY id)::integer)) AS content_key
            FROM fingerprinted
        )
        UPDATE transactions t SET content_key = o.content_key, flowpay_id = 'bs_' || encode(substring(t.tx_key FROM 1 FOR 16), 'hex')
        FROM ordered o
        WHERE o.missing AND o.account_id = t.account_id AND o.tx_key = t.tx_key AND t.account_id > $1 AND t.account_id <= $2;
        """
    }

    public static let all: [OnlinePlan] = [identity, refusals, feedVisibility, ingestIndexes, pushBatchesByCustomer]

    /// The plan that replaces `migration`, if its file is a released one with a plan.
    public static func find(for migration: Migration) -> OnlinePlan? {
        all.first { $0.version == migration.version && $0.releasedChecksum == migration.checksum }
    }

    /// 0009_identity: the one-pass UPDATE of every transaction (under ACCESS EXCLUSIVE, then a full scan for
    /// SET NOT NULL and an index build that blocks writes) becomes a backfill of a few hundred rows per
    /// transaction, walked by account (content-key ordinals are counted per account, so an account is never split
    /// across batches), a NOT NULL proven by validated CHECK constraints (SET NOT NULL then skips its scan), and
    /// the index built concurrently. Accounts, customers and watermarks are small and change as in the file, but each
    /// table in a transaction of its own: a transaction that holds ACCESS EXCLUSIVE on one table while it waits for
    /// another queues the first one's traffic for that wait (and deadlocks with a writer that locks them in the
    /// other order, as a foreign-key check does).
    static let identity = OnlinePlan(version: 9, releasedChecksum: "2b4e0d74457b3327055490708f57624b2bbbf1b9ca9c7fb57c7d9e7b61e2e7b1", sql: """
        -- banksync: steps
        -- step: transaction
        ALTER TABLE accounts
            ADD COLUMN iban_key text,
            ADD COLUMN active boolean NOT NULL DEFAULT true,
            ADD COLUMN inactive_since timestamptz;
        UPDATE accounts SET iban_key = upper(regexp_replace(iban, '[[:space:]-]', '', 'g')) WHERE iban IS NOT NULL AND iban <> '';
        CREATE INDEX accounts_customer_iban ON accounts (customer_id, iban_key) WHERE iban_key IS NOT NULL;
        WITH ranked AS (
            SELECT a.id, row_number() OVER (PARTITION BY a.customer_id, a.iban_key, a.currency
                                            ORDER BY w.last_pull_at DESC NULLS LAST, a.updated_at DESC, a.id DESC) AS n
            FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
            WHERE a.iban_key IS NOT NULL
        )
        UPDATE accounts a SET active = false, inactive_since = now() FROM ranked r WHERE r.id = a.id AND r.n > 1;

        -- step: transaction
        CREATE TABLE account_source_ids (
            account_id         bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            source             text        NOT NULL,
            source_ref         text        NOT NULL,            -- the requisition / consent that reported it
            source_account_id  text        NOT NULL,
            first_seen_at      timestamptz NOT NULL DEFAULT now(),
            last_seen_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_id, source_ref, source_account_id)
        );
        INSERT INTO account_source_ids (account_id, source, source_ref, source_account_id, first_seen_at, last_seen_at)
        SELECT a.id, c.source, c.source_ref, a.source_account_id, a.updated_at, a.updated_at
        FROM accounts a JOIN customers c ON c.id = a.customer_id;

        -- step: transaction
        ALTER TABLE customers ADD COLUMN key_generation integer NOT NULL DEFAULT 1;
        CREATE FUNCTION customers_key_generation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.source IS DISTINCT FROM OLD.source OR NEW.source_ref IS DISTINCT FROM OLD.source_ref
               OR NEW.source_config IS DISTINCT FROM OLD.source_config THEN
                NEW.key_generation := OLD.key_generation + 1;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER customers_key_generation BEFORE UPDATE ON customers
            FOR EACH ROW EXECUTE FUNCTION customers_key_generation();
        UPDATE customers SET key_generation = 2;

        -- step: transaction
        -- A constant default adds no rewrite (PostgreSQL 11 and later): a short ACCESS EXCLUSIVE.
        ALTER TABLE transactions
            ADD COLUMN content_key bytea,
            ADD COLUMN key_generation integer NOT NULL DEFAULT 1,
            ADD COLUMN flowpay_id text;

        -- step: transaction
        ALTER TABLE watermarks
            ADD COLUMN edits bigint NOT NULL DEFAULT 0,
            ADD COLUMN ids_reused bigint NOT NULL DEFAULT 0,
            ADD COLUMN history_requested_days integer,
            ADD COLUMN history_received_days integer;

        -- step: batched transactions_content_keys over transactions.account_id by 2000
        \(contentKeyBackfill(accountsFilter: ""))

        -- step: transaction
        ALTER TABLE transactions ALTER COLUMN flowpay_id SET DEFAULT 'bs_' || replace(gen_random_uuid()::text, '-', '');
        ALTER TABLE transactions ADD CONSTRAINT transactions_content_key_present CHECK (content_key IS NOT NULL) NOT VALID;
        ALTER TABLE transactions ADD CONSTRAINT transactions_flowpay_id_present CHECK (flowpay_id IS NOT NULL) NOT VALID;

        -- step: batched transactions_content_keys_catch_up over transactions.account_id by 2000
        -- Rows an old release's worker stored after the first walk had passed their account (from here on the NOT
        -- VALID checks refuse such rows): keyed the same way, so VALIDATE below never stops on one. Only accounts
        -- with such a row are fingerprinted again.
        \(contentKeyBackfill(accountsFilter: "AND account_id IN (SELECT account_id FROM transactions WHERE content_key IS NULL AND account_id > $1 AND account_id <= $2)"))

        -- step: no-transaction
        ALTER TABLE transactions VALIDATE CONSTRAINT transactions_content_key_present;
        ALTER TABLE transactions VALIDATE CONSTRAINT transactions_flowpay_id_present;

        -- step: transaction
        ALTER TABLE transactions ALTER COLUMN content_key SET NOT NULL, ALTER COLUMN flowpay_id SET NOT NULL;
        ALTER TABLE transactions DROP CONSTRAINT transactions_content_key_present, DROP CONSTRAINT transactions_flowpay_id_present;

        -- step: no-transaction
        DROP INDEX CONCURRENTLY IF EXISTS transactions_content;
        CREATE INDEX CONCURRENTLY transactions_content ON transactions (account_id, content_key);
        """)

    /// 0010_refusals: the two CHECK constraints are re-added `NOT VALID` and validated afterwards (SHARE UPDATE
    /// EXCLUSIVE: reads and writes go on), and the indexes on transactions and push_batches are built
    /// concurrently; one table per transaction, as in 0009's plan.
    static let refusals = OnlinePlan(version: 10, releasedChecksum: "a2889f6f944de9a20c3a6d9750163384a2a336ac113a19a3705ef30185ae6a2f", sql: """
        -- banksync: steps
        -- step: transaction
        ALTER TABLE transactions DROP CONSTRAINT transactions_push_state_check;
        ALTER TABLE transactions ADD CONSTRAINT transactions_push_state_check
            CHECK (push_state IN ('queued', 'pushed', 'quarantined', 'dropped')) NOT VALID;

        -- step: transaction
        ALTER TABLE push_batches DROP CONSTRAINT push_batches_state_check;
        ALTER TABLE push_batches ADD CONSTRAINT push_batches_state_check
            CHECK (state IN ('sending', 'sent', 'rejected', 'split', 'parked', 'superseded')) NOT VALID;
        UPDATE push_batches SET state = 'parked' WHERE kind = 'transactions' AND state = 'rejected';

        -- step: transaction
        CREATE TABLE push_quarantine (
            transaction_id bigint      NOT NULL,         -- transactions.id: stays when an edit or a renewal re-keys the row
            account_id     bigint      NOT NULL,
            tx_key         bytea       NOT NULL,
            customer_id    bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            batch_id       bigint,                      -- the single-row batch Flowpay refused
            http_status    integer     NOT NULL,
            logref         text,
            message        text        NOT NULL,
            quarantined_at timestamptz NOT NULL DEFAULT now(),
            resolved_at    timestamptz,
            resolution     text,                        -- 'requeued' or 'dropped: <reason>'
            PRIMARY KEY (transaction_id, quarantined_at)
        );
        CREATE INDEX push_quarantine_open ON push_quarantine (customer_id) WHERE resolved_at IS NULL;

        -- step: transaction
        CREATE TABLE ingest_quarantine (
            account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            customer_id    bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            raw_hash       bytea       NOT NULL,
            field          text        NOT NULL,
            reason         text        NOT NULL,
            raw            text        NOT NULL,
            first_seen_at  timestamptz NOT NULL DEFAULT now(),
            last_seen_at   timestamptz NOT NULL DEFAULT now(),
            first_seen_run bigint,
            PRIMARY KEY (account_id, raw_hash)
        );
        CREATE INDEX ingest_quarantine_recent ON ingest_quarantine (customer_id, last_seen_at);

        -- step: transaction
        ALTER TABLE customers ADD COLUMN claimed_at timestamptz;

        -- step: no-transaction
        ALTER TABLE transactions VALIDATE CONSTRAINT transactions_push_state_check;
        ALTER TABLE push_batches VALIDATE CONSTRAINT push_batches_state_check;
        DROP INDEX CONCURRENTLY IF EXISTS push_batches_parked;
        CREATE INDEX CONCURRENTLY push_batches_parked ON push_batches (customer_id) WHERE state = 'parked';
        DROP INDEX CONCURRENTLY IF EXISTS transactions_quarantined;
        CREATE INDEX CONCURRENTLY transactions_quarantined ON transactions (customer_id) WHERE push_state = 'quarantined';
        """)

    /// 0015_feed_visibility: the column is added as in the file (a constant default: no rewrite); its partial index
    /// is built concurrently instead of under a SHARE lock that stops every ingest for a scan of the table.
    static let feedVisibility = OnlinePlan(version: 15, releasedChecksum: "0ef54abb76ceb4c83846e6bfbb34e0d7b6e08fb5411533ae6c462416f2b49e5e", sql: """
        -- banksync: steps
        -- step: transaction
        ALTER TABLE transactions ADD COLUMN visible_at timestamptz DEFAULT '-infinity';
        ALTER TABLE transactions ALTER COLUMN visible_at SET DEFAULT NULL;

        -- step: no-transaction
        DROP INDEX CONCURRENTLY IF EXISTS transactions_unstamped;
        CREATE INDEX CONCURRENTLY transactions_unstamped ON transactions (customer_id) WHERE visible_at IS NULL AND status = 'booked';
        """)

    /// 0016_ingest_indexes: the partial content index is built concurrently under another name and takes the old
    /// one's name once the old one is dropped (ingests keep an index to find rows by content all along), and the
    /// source-id index is built concurrently. Every statement is safe to run again after an interruption.
    static let ingestIndexes = OnlinePlan(version: 16, releasedChecksum: "d1099107765c6a23a83c8ae3ba15fbded5377cc04ce0b0f8abe378285880c5ca", sql: """
        -- banksync: steps
        -- step: no-transaction
        DROP INDEX CONCURRENTLY IF EXISTS transactions_content_partial;
        CREATE INDEX CONCURRENTLY transactions_content_partial ON transactions (account_id, content_key) WHERE tx_key <> content_key;
        DROP INDEX CONCURRENTLY IF EXISTS transactions_content;
        ALTER INDEX transactions_content_partial RENAME TO transactions_content;
        DROP INDEX CONCURRENTLY IF EXISTS transactions_source_id;
        CREATE INDEX CONCURRENTLY transactions_source_id ON transactions (account_id, source_tx_id) WHERE source_tx_id IS NOT NULL;
        """)

    /// 0017_push_batches_by_customer: the index is built concurrently (push_batches grows with every push).
    static let pushBatchesByCustomer = OnlinePlan(version: 17, releasedChecksum: "77a1f6dcdd6b6da617c26090e9b7030e1afa39a36c23445adb76e31f798e096d", sql: """
        -- banksync: steps
        -- step: no-transaction
        DROP INDEX CONCURRENTLY IF EXISTS push_batches_customer_kind;
        CREATE INDEX CONCURRENTLY push_batches_customer_kind ON push_batches (customer_id, kind, id);
        """)
}
