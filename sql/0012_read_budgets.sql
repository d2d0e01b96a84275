-- Read budgets (README "Windows"): an account whose source said its reads are used up (Berlin Group 429
-- ACCESS_EXCEEDED, a GoCardless 429 or exhausted budget) is not asked again before this day; each run in
-- between records the skip with its reason, so the lag report shows it, and spends none of the budget.
ALTER TABLE watermarks
    ADD COLUMN reads_resume_on date,
    ADD COLUMN reads_deferred_reason text;
