-- Dashboards ask for an app's usage per day (and per model and user) over a
-- range. This index answers them with an index-only scan of the rollups
-- instead of visiting one heap page per (day, connection, model) row.
CREATE INDEX usage_daily_app_day ON usage_daily (app_id, mode, day)
    INCLUDE (requests, prompt_tokens, completion_tokens, cost);

---- create above / drop below ----

DROP INDEX IF EXISTS usage_daily_app_day;
