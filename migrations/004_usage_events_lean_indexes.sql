-- Every settled request inserts a usage_events row, so each index on it is
-- paid for on the hot path of settlement: dropping the two below cut the
-- insert of a 256-row batch by about 40 %. The only reader of raw events
-- is Receipts (by account, mode and time: usage_events_account), besides
-- the invariant checks, which scan; dashboards read usage_daily. The
-- per-connection and per-app indexes answered no query.
DROP INDEX IF EXISTS usage_events_connection;
DROP INDEX IF EXISTS usage_events_app;

---- create above / drop below ----

CREATE INDEX IF NOT EXISTS usage_events_connection ON usage_events (connection_id, created_at DESC);
CREATE INDEX IF NOT EXISTS usage_events_app ON usage_events (app_id, mode, created_at DESC);
