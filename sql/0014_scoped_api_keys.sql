-- Scoped PULL keys (`banksync api-key create --merchant ID …`): a key with merchants sees only those (and the
-- same 404 for every other merchant id, existing or not). NULL: unscoped, for Flowpay's single poller.
ALTER TABLE api_keys ADD COLUMN merchants jsonb;
