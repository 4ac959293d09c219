-- wattfare_cap_alert fires the budget owner's alert for a threshold of a
-- connection's cap (p_percent of it) crossed in p_period, if they chose that
-- threshold (connection_alert_settings; by default 80 and 100 %): an alerts
-- row and its email job, once per connection, period and threshold. The
-- ledger's functions call it when they record the crossing
-- (spend_thresholds), in the same transaction.
CREATE OR REPLACE FUNCTION wattfare_cap_alert(p_connection_id text, p_period date, p_percent smallint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c connections%ROWTYPE;
    v_id text := 'alr_' || replace(gen_random_uuid()::text, '-', '');
    v_spent bigint;
    n integer;
BEGIN
    SELECT * INTO c FROM connections WHERE id = p_connection_id;
    IF NOT FOUND OR NOT p_percent = ANY (coalesce(
        (SELECT s.percents FROM connection_alert_settings s WHERE s.connection_id = p_connection_id),
        ARRAY[80, 100]::smallint[])) THEN
        RETURN;
    END IF;
    -- What was spent: captured for 50 and 80 % (which settlements cross);
    -- at 100 %, fired by the first refusal, also what is reserved for
    -- requests in progress (the leases that filled the cap), up to the cap.
    SELECT CASE WHEN p_percent >= 100 THEN least(c.monthly_cap, cp.captured + cp.held) ELSE cp.captured END
    INTO v_spent FROM connection_periods cp
    WHERE cp.connection_id = p_connection_id AND cp.period = p_period;
    INSERT INTO alerts (id, account_id, mode, kind, connection_id, period, percent, monthly_cap, spent)
    VALUES (v_id, c.account_id, c.mode, 'cap', p_connection_id, p_period, p_percent, c.monthly_cap, coalesce(v_spent, 0))
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM wattfare_alert_job(v_id);
    END IF;
END $$;
