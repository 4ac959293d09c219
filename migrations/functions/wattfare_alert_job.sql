-- wattfare_alert_job inserts the river job that emails alert p_alert_id
-- (jobs.AlertEmail, kind "alert.email") in the caller's transaction, so the
-- job exists if and only if the alert does. Alerts fire inside settlements
-- and lease grants, which data-plane processes run without a river client:
-- the row is written as river's own insert writes it (river v0.51.2's
-- river_job; jobs' alert tests work such a job), and river's producers are
-- woken as its insert wakes them, on <schema>.river_insert.
CREATE OR REPLACE FUNCTION wattfare_alert_job(p_alert_id text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at, tags, metadata)
    VALUES (jsonb_build_object('alert_id', p_alert_id), 'alert.email', 25, 1, 'default', 'available', now(),
        '{}'::varchar(255)[], '{}'::jsonb);
    PERFORM pg_notify(coalesce(current_schema() || '.', '') || 'river_insert', '{"queue": "default"}');
END $$;
