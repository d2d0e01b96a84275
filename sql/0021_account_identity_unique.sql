-- banksync: no-transaction
-- One account row per customer, IBAN and currency (Store+Accounts.swift `upsertAccount`). Without a unique key a
-- consent callback and a sync that both met the same new IBAN at once each inserted a row, and the second row's
-- first sync sent the account's history again. The key covers active rows with an IBAN only:
-- * inactive rows are kept history (an account the consent no longer reports, an earlier duplicate), never
--   looked up ahead of an active row, and may repeat an identity;
-- * a NULL currency counts as '' (a unique index would otherwise let NULLs repeat).
--
-- Step 1, existing duplicates (made by that race before this index): of each group of active rows with the
-- same customer, IBAN and currency, the row `upsertAccount` already picks (synced last, then newest) carries on;
-- the others become inactive with their data kept, as migration 0009 did for renewals (`customers show` lists
-- them). Repeatable: a second run finds nothing to change. A duplicate made between this step and the index
-- build makes the build fail; the migrator then runs the file again from this step.
WITH ranked AS (
    SELECT a.id, row_number() OVER (PARTITION BY a.customer_id, a.iban_key, COALESCE(a.currency, '')
                                    ORDER BY w.last_pull_at DESC NULLS LAST, a.id DESC) AS n
    FROM accounts a LEFT JOIN watermarks w ON w.account_id = a.id
    WHERE a.active AND a.iban_key IS NOT NULL
)
UPDATE accounts a SET active = false, inactive_since = COALESCE(a.inactive_since, now())
FROM ranked r WHERE r.id = a.id AND r.n > 1;

-- Step 2, the key, built without blocking writers (an interrupted build leaves an invalid index: dropped first).
DROP INDEX CONCURRENTLY IF EXISTS accounts_identity;

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_identity
    ON accounts (customer_id, iban_key, (COALESCE(currency, ''))) WHERE active AND iban_key IS NOT NULL;
