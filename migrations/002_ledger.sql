-- The spend ledger's atomic steps, called by the data plane's spend engine
-- (postgres/ledger.go). Every function locks rows in one global order so
-- that concurrent callers never deadlock one another:
--   connections/apps/api_keys (FOR SHARE, grants only)
--   → connection_periods (by connection_id, period)
--   → wallets (by account_id, mode)
--   → leases (by id).
-- Revocations update connections/apps/api_keys rows, so a grant holding a
-- share lock on them finishes first and its lease is then visible to
-- AwaitLeasesReleased; a grant that starts after the revoke sees it.

-- wattfare_lease_grant creates lease p_lease_id (or tops up and extends it
-- when it exists) for the connection's period p_period, after checking that
-- the key, the app and the connection may spend. Of what the cap and the
-- wallet leave free (the room), it grants p_need (what the waiting request
-- needs) plus, up to p_amount in all, at most half of the rest of the room:
-- so near the cap, leases shrink geometrically and one process cannot hoard
-- what another needs. It grants at least p_min, otherwise nothing, and says
-- why in o_reason (a wattfare error code, or 'lease_gone' when the lease to
-- extend was already released). The budget figures come back either way,
-- for error metadata.
CREATE FUNCTION wattfare_lease_grant(
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

-- wattfare_lease_release releases the given leases exactly once: each lease
-- still open (and, when p_only_expired, past its expiry) gets released_at,
-- and its unspent amount goes back to its period and wallet. The caller must
-- already hold, or be free to take, the period and wallet locks in order.
CREATE FUNCTION wattfare_lease_release(p_ids text[], p_only_expired boolean)
RETURNS TABLE (o_id text, o_amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    amt bigint;
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM connection_periods cp
    WHERE (cp.connection_id, cp.period) IN (
        SELECT l.connection_id, l.period FROM leases l WHERE l.id = ANY(p_ids) AND l.released_at IS NULL)
    ORDER BY cp.connection_id, cp.period FOR UPDATE;
    PERFORM 1 FROM wallets w
    WHERE (w.account_id, w.mode) IN (
        SELECT l.account_id, l.mode FROM leases l WHERE l.id = ANY(p_ids) AND l.released_at IS NULL)
    ORDER BY w.account_id, w.mode FOR UPDATE;
    FOR r IN
        SELECT l.id, l.connection_id, l.period, l.account_id, l.mode FROM leases l
        WHERE l.id = ANY(p_ids) AND l.released_at IS NULL ORDER BY l.id
    LOOP
        SELECT l.amount INTO amt FROM leases l
        WHERE l.id = r.id AND l.released_at IS NULL AND (NOT p_only_expired OR l.expires_at < now())
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        UPDATE leases SET released_at = now(), amount = 0 WHERE id = r.id;
        IF amt > 0 THEN
            UPDATE connection_periods SET held = held - amt WHERE connection_id = r.connection_id AND period = r.period;
            UPDATE wallets SET held = held - amt WHERE account_id = r.account_id AND mode = r.mode;
        END IF;
        o_id := r.id;
        o_amount := amt;
        RETURN NEXT;
    END LOOP;
END $$;

-- wattfare_lease_sweep releases up to p_limit leases that expired without
-- being released: those of processes that died or lost Postgres. Any live
-- process runs it now and then; the released_at guard makes it exactly once.
CREATE FUNCTION wattfare_lease_sweep(p_limit integer)
RETURNS TABLE (o_id text, o_amount bigint)
LANGUAGE sql AS $$
    SELECT * FROM wattfare_lease_release(ARRAY(
        SELECT id FROM leases WHERE released_at IS NULL AND expires_at < now()
        ORDER BY expires_at LIMIT p_limit), true);
$$;

-- wattfare_lease_shrink gives back up to p_amount of an open lease's
-- unspent amount to its period and wallet, and returns what it gave back.
-- A process does it with its idle spare when another process announces
-- (lease_pressure) that it was refused while leases held budget.
CREATE FUNCTION wattfare_lease_shrink(p_lease_id text, p_amount bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    l leases%ROWTYPE;
    x bigint;
BEGIN
    SELECT * INTO l FROM leases WHERE id = p_lease_id;
    IF NOT FOUND OR l.released_at IS NOT NULL OR p_amount <= 0 THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM connection_periods WHERE connection_id = l.connection_id AND period = l.period FOR UPDATE;
    PERFORM 1 FROM wallets WHERE account_id = l.account_id AND mode = l.mode FOR UPDATE;
    SELECT * INTO l FROM leases WHERE id = p_lease_id FOR UPDATE;
    IF l.released_at IS NOT NULL THEN
        RETURN 0;
    END IF;
    x := least(p_amount, l.amount);
    UPDATE leases SET amount = amount - x WHERE id = p_lease_id;
    UPDATE connection_periods SET held = held - x WHERE connection_id = l.connection_id AND period = l.period;
    UPDATE wallets SET held = held - x WHERE account_id = l.account_id AND mode = l.mode;
    RETURN x;
END $$;

-- wattfare_cap_lowered keeps captured + held <= cap when a connection's cap
-- goes down (invariant 1 at every read): in the same transaction, it takes
-- the excess back from the connection's open leases. The data-plane
-- processes hear of the change and surrender those leases; until then what
-- they admit on them is charged only as far as the lease and the new cap
-- allow. A cap set below what is already captured cannot undo that spend.
CREATE FUNCTION wattfare_cap_lowered() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    per record;
    l record;
    excess bigint;
    x bigint;
BEGIN
    FOR per IN
        SELECT cp.period, cp.captured, cp.held FROM connection_periods cp
        WHERE cp.connection_id = NEW.id AND cp.held > 0 AND cp.captured + cp.held > NEW.monthly_cap
        ORDER BY cp.period FOR UPDATE
    LOOP
        excess := per.captured + per.held - greatest(NEW.monthly_cap, per.captured);
        PERFORM 1 FROM wallets w WHERE w.account_id = NEW.account_id AND w.mode = NEW.mode FOR UPDATE;
        FOR l IN
            SELECT ls.id, ls.amount FROM leases ls
            WHERE ls.connection_id = NEW.id AND ls.period = per.period AND ls.released_at IS NULL
            ORDER BY ls.id FOR UPDATE
        LOOP
            EXIT WHEN excess <= 0;
            x := least(l.amount, excess);
            CONTINUE WHEN x <= 0;
            UPDATE leases SET amount = amount - x WHERE id = l.id;
            UPDATE connection_periods SET held = held - x WHERE connection_id = NEW.id AND period = per.period;
            UPDATE wallets SET held = held - x WHERE account_id = NEW.account_id AND mode = NEW.mode;
            excess := excess - x;
        END LOOP;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER connections_cap_lowered AFTER UPDATE OF monthly_cap ON connections
FOR EACH ROW WHEN (NEW.monthly_cap < OLD.monthly_cap) EXECUTE FUNCTION wattfare_cap_lowered();

-- wattfare_settle commits one batch of settlements and lease releases in one
-- transaction. Each settlement is a usage event keyed by (request_id,
-- created_at = admission time); only newly inserted events charge, so a
-- replayed batch charges nothing twice. A settlement is charged first from
-- its lease (what the engine already held for it, p_from_lease, as long as
-- the lease is still open), and any rest of its cost only from what the cap
-- and the wallet have free: never beyond either. charged is recorded next
-- to cost. Releases run after the settlements, so a lease's last charges
-- land before its unspent amount is returned.
CREATE FUNCTION wattfare_settle(
    p_request_id text[], p_created_at timestamptz[], p_lease_id text[], p_from_lease bigint[],
    p_app_id text[], p_mode text[], p_connection_id text[], p_account_id text[],
    p_app_user_id text[], p_key_id text[], p_model text[], p_upstream text[],
    p_upstream_id text[], p_endpoint text[], p_stream boolean[], p_status text[],
    p_prompt_tokens bigint[], p_completion_tokens bigint[], p_cached_tokens bigint[],
    p_reasoning_tokens bigint[], p_cost bigint[], p_duration_ms integer[],
    p_release text[])
RETURNS TABLE (o_inserted integer, o_charged bigint)
LANGUAGE plpgsql AS $$
DECLARE
    m date;
    v_n integer := 0;
    v_charged bigint := 0;
    v_extras jsonb;
    x record;
    room_cap bigint;
    room_wallet bigint;
    extra bigint;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', t AT TIME ZONE 'UTC')::date FROM unnest(p_created_at) t LOOP
        IF to_regclass('usage_events_' || to_char(m, 'YYYY_MM')) IS NULL THEN
            PERFORM wattfare_usage_partition(m::timestamp AT TIME ZONE 'UTC');
        END IF;
    END LOOP;

    -- Lock in the global order: periods, wallets, leases (of both the
    -- settlements and the releases).
    INSERT INTO connection_periods (connection_id, period)
    SELECT DISTINCT s.c, date_trunc('month', s.t AT TIME ZONE 'UTC')::date
    FROM unnest(p_connection_id, p_created_at) AS s(c, t)
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM connection_periods cp
    WHERE (cp.connection_id, cp.period) IN (
        SELECT s.c, date_trunc('month', s.t AT TIME ZONE 'UTC')::date FROM unnest(p_connection_id, p_created_at) AS s(c, t)
        UNION
        SELECT l.connection_id, l.period FROM leases l WHERE l.id = ANY(p_release) AND l.released_at IS NULL)
    ORDER BY cp.connection_id, cp.period FOR UPDATE;
    PERFORM 1 FROM wallets w
    WHERE (w.account_id, w.mode) IN (
        SELECT s.a, s.m FROM unnest(p_account_id, p_mode) AS s(a, m)
        UNION
        SELECT l.account_id, l.mode FROM leases l WHERE l.id = ANY(p_release) AND l.released_at IS NULL)
    ORDER BY w.account_id, w.mode FOR UPDATE;
    PERFORM 1 FROM leases l
    WHERE l.id = ANY(p_lease_id) OR l.id = ANY(p_release)
    ORDER BY l.id FOR UPDATE;

    WITH recs AS (
        SELECT DISTINCT ON (r.request_id, r.created_at) r.*,
               date_trunc('month', r.created_at AT TIME ZONE 'UTC')::date AS period
        FROM unnest(p_request_id, p_created_at, p_lease_id, p_from_lease, p_app_id, p_mode,
                    p_connection_id, p_account_id, p_app_user_id, p_key_id, p_model, p_upstream,
                    p_upstream_id, p_endpoint, p_stream, p_status, p_prompt_tokens,
                    p_completion_tokens, p_cached_tokens, p_reasoning_tokens, p_cost, p_duration_ms)
             AS r(request_id, created_at, lease_id, from_lease, app_id, mode, connection_id, account_id,
                  app_user_id, key_id, model, upstream, upstream_id, endpoint, stream, status,
                  prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost, duration_ms)
        ORDER BY r.request_id, r.created_at
    ),
    ch0 AS (
        SELECT r.*,
               CASE WHEN l.id IS NOT NULL AND l.released_at IS NULL
                         AND l.connection_id = r.connection_id AND l.period = r.period THEN
                   greatest(0, least(r.from_lease, r.cost,
                       l.amount - coalesce(sum(least(r.from_lease, r.cost)) OVER w, 0)))
               ELSE 0 END AS from_open_lease
        FROM recs r LEFT JOIN leases l ON l.id = r.lease_id
        WINDOW w AS (PARTITION BY r.lease_id ORDER BY r.request_id, r.created_at
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    -- Captured never passes the cap, even one lowered while leases granted
    -- under the old cap were still spending (invariant 1).
    ch AS (
        SELECT c0.*,
               greatest(0, least(c0.from_open_lease, cn.monthly_cap - cp.captured
                   - coalesce(sum(c0.from_open_lease) OVER w, 0))) AS lease_charge
        FROM ch0 c0
        JOIN connections cn ON cn.id = c0.connection_id
        JOIN connection_periods cp ON cp.connection_id = c0.connection_id AND cp.period = c0.period
        WINDOW w AS (PARTITION BY c0.connection_id, c0.period ORDER BY c0.request_id, c0.created_at
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    ins AS (
        INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id,
            key_id, model, upstream, upstream_id, endpoint, stream, status, prompt_tokens, completion_tokens,
            cached_tokens, reasoning_tokens, cost, charged, duration_ms)
        SELECT request_id, created_at, app_id, mode, connection_id, account_id, app_user_id,
            key_id, model, upstream, upstream_id, endpoint, stream, status, prompt_tokens, completion_tokens,
            cached_tokens, reasoning_tokens, cost, lease_charge, duration_ms
        FROM ch
        ON CONFLICT DO NOTHING
        RETURNING request_id, created_at
    ),
    done AS (
        SELECT ch.* FROM ch JOIN ins USING (request_id, created_at)
    ),
    ul AS (
        UPDATE leases l SET amount = l.amount - s.v
        FROM (SELECT lease_id, sum(lease_charge) AS v FROM done GROUP BY lease_id) s
        WHERE l.id = s.lease_id AND s.v > 0
        RETURNING 1
    ),
    up AS (
        UPDATE connection_periods cp
        SET captured = cp.captured + s.v, held = cp.held - s.v, requests = cp.requests + s.n
        FROM (SELECT connection_id, period, sum(lease_charge) AS v, count(*) AS n FROM done GROUP BY 1, 2) s
        WHERE cp.connection_id = s.connection_id AND cp.period = s.period
        RETURNING 1
    ),
    uw AS (
        UPDATE wallets w SET captured = w.captured + s.v, held = w.held - s.v
        FROM (SELECT account_id, mode, sum(lease_charge) AS v FROM done GROUP BY 1, 2) s
        WHERE w.account_id = s.account_id AND w.mode = s.mode AND s.v > 0
        RETURNING 1
    ),
    ud AS (
        INSERT INTO usage_daily (day, app_id, mode, connection_id, account_id, model, requests,
                                 prompt_tokens, completion_tokens, cost)
        SELECT (created_at AT TIME ZONE 'UTC')::date, app_id, mode, connection_id, max(account_id), model,
               count(*), sum(prompt_tokens), sum(completion_tokens), sum(lease_charge)
        FROM done GROUP BY 1, 2, 3, 4, 6
        ON CONFLICT (app_id, mode, day, connection_id, model) DO UPDATE
        SET requests = usage_daily.requests + excluded.requests,
            prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
            cost = usage_daily.cost + excluded.cost
        RETURNING 1
    )
    SELECT count(*)::integer, coalesce(sum(lease_charge), 0)::bigint,
           coalesce(jsonb_agg(jsonb_build_object(
               'request_id', request_id, 'created_at', created_at, 'connection_id', connection_id,
               'period', period, 'account_id', account_id, 'mode', mode, 'app_id', app_id, 'model', model,
               'need', cost - lease_charge)) FILTER (WHERE cost > lease_charge), '[]'::jsonb)
    INTO v_n, v_charged, v_extras
    FROM done;

    -- The rest of a cost its lease did not cover (the lease was released,
    -- or the cost outgrew the hold): charge only what cap and wallet leave.
    FOR x IN SELECT * FROM jsonb_to_recordset(v_extras) AS e(request_id text, created_at timestamptz,
            connection_id text, period date, account_id text, mode text, app_id text, model text, need bigint)
    LOOP
        SELECT c.monthly_cap - cp.captured - cp.held INTO room_cap
        FROM connection_periods cp JOIN connections c ON c.id = cp.connection_id
        WHERE cp.connection_id = x.connection_id AND cp.period = x.period;
        SELECT w.credits - w.captured - w.held INTO room_wallet
        FROM wallets w WHERE w.account_id = x.account_id AND w.mode = x.mode;
        extra := greatest(0, least(x.need, coalesce(room_cap, 0), coalesce(room_wallet, 0)));
        CONTINUE WHEN extra = 0;
        UPDATE usage_events SET charged = charged + extra
        WHERE request_id = x.request_id AND created_at = x.created_at;
        UPDATE connection_periods SET captured = captured + extra
        WHERE connection_id = x.connection_id AND period = x.period;
        UPDATE wallets SET captured = captured + extra WHERE account_id = x.account_id AND mode = x.mode;
        UPDATE usage_daily SET cost = cost + extra
        WHERE app_id = x.app_id AND mode = x.mode AND day = (x.created_at AT TIME ZONE 'UTC')::date
          AND connection_id = x.connection_id AND model = x.model;
        v_charged := v_charged + extra;
    END LOOP;

    PERFORM wattfare_lease_release(p_release, false);

    o_inserted := v_n;
    o_charged := v_charged;
    RETURN NEXT;
END $$;

---- create above / drop below ----

DROP TRIGGER IF EXISTS connections_cap_lowered ON connections;
DROP FUNCTION IF EXISTS wattfare_cap_lowered, wattfare_settle, wattfare_lease_shrink, wattfare_lease_sweep, wattfare_lease_release, wattfare_lease_grant;
