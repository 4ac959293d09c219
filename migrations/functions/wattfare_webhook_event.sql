-- wattfare_webhook_event writes one event to the outbox (webhook_events) in
-- the caller's transaction and returns its id: it exists if and only if the
-- change it reports commits. The control plane's jobs deliver it to the
-- app's endpoints of p_mode that subscribe to p_type. p_data never holds a
-- prompt or a completion: only ids, statuses and amounts.
CREATE OR REPLACE FUNCTION wattfare_webhook_event(p_app_id text, p_mode text, p_type text, p_data jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO webhook_events (id, app_id, mode, type, data) VALUES (v_id, p_app_id, p_mode, p_type, p_data);
    RETURN v_id;
END $$;
