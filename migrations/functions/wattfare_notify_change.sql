-- Change notification: every insert, update or delete of a row the data plane
-- caches bumps its version and publishes {entity, id, version, …} on
-- wattfare_changes inside the writing transaction, so it is delivered on
-- commit and never on rollback, and no write path can forget it.
CREATE OR REPLACE FUNCTION wattfare_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    payload jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    -- at: when the change was written (unix microseconds), for the listeners' lag.
    payload := jsonb_build_object('entity', TG_ARGV[0], 'id', r.id, 'version', r.version,
        'at', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    IF TG_ARGV[0] = 'connection' THEN
        payload := payload || jsonb_build_object('app_id', r.app_id, 'mode', r.mode, 'app_user_id', r.app_user_id);
    ELSIF TG_ARGV[0] = 'api_key' THEN
        payload := payload || jsonb_build_object('app_id', r.app_id, 'mode', r.mode);
    END IF;
    PERFORM pg_notify('wattfare_changes', payload::text);
    RETURN NULL;
END $$;
