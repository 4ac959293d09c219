-- wattfare_lease_grant creates lease p_lease_id (or tops up and extends it
-- when it exists) for the connection's period p_period, after checking that
-- the key, the app and the connection may spend. Of what the cap and the
-- wallet leave free (the room), it grants p_need (what the waiting request
-- needs) plus, up to p_amount in all, at most half of the rest of the room:
-- so near the cap, leases shrink geometrically and one process cannot hoard
-- what another needs. It grants at least p_min, otherwise nothing, and says
-- why in o_reason (a wattfare error code, 'wallet_frozen' while a dispute
-- freezes the wallet, or 'lease_gone' when the lease to extend was already
-- released). A wallet below zero (a refund or a lost dispute took back money
-- already spent) has no room, so it gets no hold until it is funded again.
-- The budget figures come back either way, for error metadata. The
-- period's first refusal at the cap writes its connection.cap_reached event.
CREATE OR REPLACE FUNCTION wattfare_lease_grant(
    p_lease_id text, p_connection_id text, p_key_id text, p_process_id text,
    p_period date, p_amount bigint, p_need bigint, p_min bigint, p_ttl_ms integer)
RETURNS TABLE (o_granted bigint, o_expires_at timestamptz, o_reason text, o_cap bigint,
               o_captured bigint, o_held bigint, o_wallet_available bigint, o_key_expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    c   connections%ROWTYPE;
    k   api_keys%ROWTYPE;
    per connection_periods%ROWTYPE;
    w   wallets%ROWTYPE;
    l   leases%ROWTYPE;
    suspended timestamptz;
    room_cap bigint;
    room_wallet bigint;
    room bigint;
    g bigint;
    exp timestamptz := now() + make_interval(secs => p_ttl_ms / 1000.0);
BEGIN
    SELECT * INTO c FROM connections WHERE id = p_connection_id FOR SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'not_connected'::text, 0::bigint, 0::bigint, 0::bigint, 0::bigint, NULL::timestamptz;
        RETURN;
    END IF;
    IF p_key_id <> '' THEN
        SELECT * INTO k FROM api_keys WHERE id = p_key_id FOR SHARE;
        IF NOT FOUND OR k.revoked_at IS NOT NULL OR (k.expires_at IS NOT NULL AND k.expires_at <= now())
           OR k.app_id <> c.app_id OR k.mode <> c.mode THEN
            RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'invalid_api_key'::text, c.monthly_cap, 0::bigint, 0::bigint, 0::bigint, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    SELECT a.suspended_at INTO suspended FROM apps a WHERE a.id = c.app_id FOR SHARE;
    IF suspended IS NOT NULL THEN
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'app_suspended'::text, c.monthly_cap, 0::bigint, 0::bigint, 0::bigint, k.expires_at;
        RETURN;
    END IF;
    IF c.status <> 'active' THEN
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'connection_revoked'::text, c.monthly_cap, 0::bigint, 0::bigint, 0::bigint, k.expires_at;
        RETURN;
    END IF;

    INSERT INTO connection_periods (connection_id, period) VALUES (p_connection_id, p_period)
    ON CONFLICT DO NOTHING;
    SELECT * INTO per FROM connection_periods cp
    WHERE cp.connection_id = p_connection_id AND cp.period = p_period FOR UPDATE;
    SELECT * INTO w FROM wallets ww WHERE ww.account_id = c.account_id AND ww.mode = c.mode FOR UPDATE;
    IF NOT FOUND THEN
        w.credits := 0; w.captured := 0; w.held := 0;
    END IF;
    IF w.frozen_at IS NOT NULL THEN
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'wallet_frozen'::text, c.monthly_cap, per.captured, per.held,
            w.credits - w.captured - w.held, k.expires_at;
        RETURN;
    END IF;
    SELECT * INTO l FROM leases ls WHERE ls.id = p_lease_id FOR UPDATE;
    IF FOUND AND (l.released_at IS NOT NULL OR l.connection_id <> p_connection_id OR l.period <> p_period) THEN
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz, 'lease_gone'::text, c.monthly_cap, per.captured, per.held,
            w.credits - w.captured - w.held, k.expires_at;
        RETURN;
    END IF;

    room_cap := c.monthly_cap - per.captured - per.held;
    room_wallet := w.credits - w.captured - w.held;
    room := greatest(0, least(room_cap, room_wallet));
    g := least(room, p_need);
    g := g + greatest(0, least(p_amount - g, (room - g) / 2));
    IF g < p_min OR (p_min = 0 AND p_amount > 0 AND g = 0 AND l.id IS NULL) THEN
        -- The period's first refusal at the cap is the connection's
        -- connection.cap_reached webhook event and its 100 % alert.
        IF room_cap < greatest(p_min, 1) AND per.cap_reached_at IS NULL THEN
            UPDATE connection_periods SET cap_reached_at = now()
            WHERE connection_id = p_connection_id AND period = p_period;
            INSERT INTO spend_thresholds (connection_id, period, percent)
            VALUES (p_connection_id, p_period, 100) ON CONFLICT DO NOTHING;
            IF FOUND THEN
                PERFORM wattfare_cap_alert(p_connection_id, p_period, 100::smallint);
            END IF;
            PERFORM wattfare_connection_event(p_connection_id, 'connection.cap_reached', p_period, '{}'::jsonb);
        END IF;
        RETURN QUERY SELECT 0::bigint, NULL::timestamptz,
            (CASE WHEN room_cap < greatest(p_min, 1) THEN 'cap_reached' ELSE 'budget_exhausted' END)::text,
            c.monthly_cap, per.captured, per.held, greatest(room_wallet, 0), k.expires_at;
        RETURN;
    END IF;

    IF l.id IS NULL THEN
        INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
        VALUES (p_lease_id, p_connection_id, c.account_id, c.mode, p_period, p_process_id, g, exp);
    ELSE
        UPDATE leases SET amount = amount + g, expires_at = greatest(expires_at, exp) WHERE id = p_lease_id;
    END IF;
    IF g > 0 THEN
        UPDATE connection_periods SET held = held + g
        WHERE connection_id = p_connection_id AND period = p_period;
        UPDATE wallets SET held = held + g WHERE account_id = c.account_id AND mode = c.mode;
    END IF;
    RETURN QUERY SELECT g, exp, ''::text, c.monthly_cap, per.captured, per.held + g, room_wallet - g, k.expires_at;
END $$;
