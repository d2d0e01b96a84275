-- banksync: no-transaction
-- Each statement commits on its own (every one is IF NOT EXISTS, so a rerun finishes what an interrupted one began):
-- no transaction holds the lock of one busy table (watermarks) while it waits for the next.
-- What the ops console shows of the banks' read limits (issue 34): nullable columns without a default, a catalog
-- change only, no rewrite.
-- * customer_secrets.token_key: the fingerprint of the customer's Fio token (never the token), as fio_call_slots is
--   keyed, written by the sync that opens the token: "Sync now" shows when Fio's 30 s rule allows the next call.
-- * watermarks.reads_on/reads_that_day: the account's reads on that (UTC) day, counted by the sync engine for Berlin
--   Group accounts (a consent allows frequencyPerDay unattended reads a day): Consents shows the reads left today.
-- * watermarks.deep_read_to: the last day of a deep read an operator asked for over a range (deep_read_from to it);
--   none: through today.
ALTER TABLE customer_secrets ADD COLUMN IF NOT EXISTS token_key text;
ALTER TABLE watermarks ADD COLUMN IF NOT EXISTS reads_on date;
ALTER TABLE watermarks ADD COLUMN IF NOT EXISTS reads_that_day bigint;
ALTER TABLE watermarks ADD COLUMN IF NOT EXISTS deep_read_to date;
