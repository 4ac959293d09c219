-- wattfare_connection_event writes a connection.* webhook event for
-- p_connection_id (wattfare_webhook_event): its data is the connection as
-- committed in the caller's transaction, with what it spent in p_period,
-- merged with p_extra. The control plane (approval, cap change, revoke) and
-- the ledger's functions (cap reached, cap warning) both call it, so every
-- connection event has one shape.
CREATE OR REPLACE FUNCTION wattfare_connection_event(p_connection_id text, p_type text, p_period date, p_extra jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c connections%ROWTYPE;
    spent bigint;
BEGIN
    SELECT * INTO c FROM connections WHERE id = p_connection_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT cp.captured INTO spent FROM connection_periods cp
    WHERE cp.connection_id = p_connection_id AND cp.period = p_period;
    RETURN wattfare_webhook_event(c.app_id, c.mode, p_type, jsonb_build_object('connection', jsonb_build_object(
        'id', c.id, 'app_id', c.app_id, 'app_user_id', c.app_user_id, 'mode', c.mode, 'status', c.status,
        'monthly_cap', wattfare_money(c.monthly_cap), 'spent_this_period', wattfare_money(coalesce(spent, 0)),
        'period_start', to_char(p_period, 'YYYY-MM-DD'))) || coalesce(p_extra, '{}'::jsonb));
END $$;
