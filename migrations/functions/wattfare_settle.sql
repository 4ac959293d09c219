-- wattfare_settle commits one batch of settlements and lease releases in one
-- transaction. Each settlement is a usage event keyed by (account_id, mode,
-- created_at = admission time, request_id); only newly inserted events
-- charge, so a replayed batch charges nothing twice. A settlement is
-- charged first from its lease (what the engine already held for it,
-- p_from_lease, as long as the lease is still open), and any rest of its
-- cost only from what the cap and the wallet have free: never beyond
-- either. cost is stored as the data plane measured it and charged next to
-- it, so cost - charged is the overrun nobody paid for. Releases run after
-- the settlements, so a lease's last charges land before its unspent amount
-- is returned. Locks are taken in the global order (functions/README.md).
--
-- Its statements take their arrays as parameters, and a generic plan cannot
-- see how long they are: it joined the inserted events back to the batch
-- with a nested loop, n² for a batch of n. force_custom_plan plans them for
-- the arrays at hand each time (migration 005). It is also the fallback of
-- wattfare_settle_grouped.
CREATE OR REPLACE FUNCTION wattfare_settle(
    p_request_id text[], p_created_at timestamptz[], p_lease_id text[], p_from_lease bigint[],
    p_app_id text[], p_mode text[], p_connection_id text[], p_account_id text[],
    p_app_user_id text[], p_key_id text[], p_model text[], p_upstream text[],
    p_upstream_id text[], p_endpoint text[], p_stream boolean[], p_status text[],
    p_prompt_tokens bigint[], p_completion_tokens bigint[], p_cached_tokens bigint[],
    p_reasoning_tokens bigint[], p_cost bigint[], p_duration_ms integer[],
    p_release text[])
RETURNS TABLE (o_inserted integer, o_charged bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
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
        WHERE account_id = x.account_id AND mode = x.mode AND created_at = x.created_at
          AND request_id = x.request_id;
        UPDATE connection_periods SET captured = captured + extra
        WHERE connection_id = x.connection_id AND period = x.period;
        UPDATE wallets SET captured = captured + extra WHERE account_id = x.account_id AND mode = x.mode;
        UPDATE usage_daily SET cost = cost + extra
        WHERE app_id = x.app_id AND mode = x.mode AND day = (x.created_at AT TIME ZONE 'UTC')::date
          AND connection_id = x.connection_id AND model = x.model;
        v_charged := v_charged + extra;
    END LOOP;

    -- The thresholds of the cap reached (wattfare_spend_crossed skips the
    -- periods below their alert_at).
    IF v_n > 0 THEN
        PERFORM wattfare_spend_crossed(array_agg(s.c), array_agg(s.p))
        FROM (SELECT DISTINCT r.c, date_trunc('month', r.t AT TIME ZONE 'UTC')::date AS p
              FROM unnest(p_connection_id, p_created_at) AS r(c, t)) s;
    END IF;

    PERFORM wattfare_lease_release(p_release, false);

    o_inserted := v_n;
    o_charged := v_charged;
    RETURN NEXT;
END $$;
