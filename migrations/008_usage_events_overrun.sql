-- An overrun is a settled request that cost more than could be captured for
-- it (cost > charged): its lease was released or outgrown, and the cap or
-- the wallet had no room for the rest. Admins watch the sum and the latest
-- ones. This partial index holds only those rows, which are rare, so it
-- answers both without scanning a month of events, and costs settlement
-- no index insert for the rest: only the predicate, checked per row.
CREATE INDEX usage_events_overrun ON usage_events (mode, created_at DESC)
    INCLUDE (cost, charged) WHERE cost > charged;

---- create above / drop below ----

DROP INDEX IF EXISTS usage_events_overrun;
