-- The admin console lists the spend captured when an operator abandoned a
-- dead process's spool (usage events of status 'abandoned', written by
-- wattfare_process_abandon): rare rows, found without scanning a month.
CREATE INDEX usage_events_abandoned ON usage_events (mode, created_at DESC) WHERE status = 'abandoned';

---- create above / drop below ----

DROP INDEX IF EXISTS usage_events_abandoned;
