-- One index on usage_events instead of two. Every settled request inserts
-- a row, and each index on the table is paid for on that path: index
-- inserts were about a third of Postgres's work per settlement once
-- settlement went through wattfare_settle_grouped (006). The table had its
-- primary key (request_id, created_at), which made settlement idempotent,
-- and usage_events_account (account_id, mode, created_at DESC) for
-- Receipts. The key is now (account_id, mode, created_at, request_id):
--
-- - It still makes settlement exactly-once. A replayed or retried
--   settlement is the same record (the spool and the batcher resend it byte
--   for byte): same request id, same admission time, same paying account
--   and mode, so it meets the key and charges nothing.
-- - It serves Receipts (one account and mode, newest first, paged by
--   (created_at, request_id)) straight from the index, in the order the
--   pages need, which usage_events_account did not fully.
-- - Its text columns compare bytewise (COLLATE "C"): they are identifiers,
--   and a locale's collation cost every comparison a strcoll.
--
-- BenchmarkSettlePostgres: 6.5-8.25 -> 4.25 pg-µs/op.
--
-- wattfare_settle's rare extra charge (a cost its lease did not cover)
-- finds its event by the new key. Its lookup names every column of either
-- key, so the down part below leaves the function as it is.

ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey;
DROP INDEX usage_events_account;
ALTER TABLE usage_events
    ALTER COLUMN account_id TYPE text COLLATE "C",
    ALTER COLUMN mode TYPE text COLLATE "C",
    ALTER COLUMN request_id TYPE text COLLATE "C";
ALTER TABLE usage_events ADD PRIMARY KEY (account_id, mode, created_at, request_id);

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

    PERFORM wattfare_lease_release(p_release, false);

    o_inserted := v_n;
    o_charged := v_charged;
    RETURN NEXT;
END $$;


---- create above / drop below ----

ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey;
ALTER TABLE usage_events
    ALTER COLUMN account_id TYPE text COLLATE "default",
    ALTER COLUMN mode TYPE text COLLATE "default",
    ALTER COLUMN request_id TYPE text COLLATE "default";
ALTER TABLE usage_events ADD PRIMARY KEY (request_id, created_at);
CREATE INDEX usage_events_account ON usage_events (account_id, mode, created_at DESC);
