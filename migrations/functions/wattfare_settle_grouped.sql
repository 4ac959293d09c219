-- wattfare_settle_grouped commits a batch like wattfare_settle (same first
-- 23 parameters, same rows and balances afterwards), faster for the common
-- batch. The data plane sends it only batches where every settlement has a
-- lease, belongs to its lease's connection and period (and, per connection
-- and period, to one account and mode), and costs no more than it took from
-- the lease (0 <= cost <= from_lease), along with the batch's sums per group:
--   p_l_*:  per lease: its connection and period, the sum of the costs;
--   p_cp_*: per (connection, period): its account and mode, sum and count;
--   p_w_*:  per wallet (account, mode): the sum of the costs;
--   p_d_*:  per usage_daily row (day UTC, app, mode, connection, model) and
--           its account: count, prompt and completion tokens, sum of costs.
-- When moreover each lease is open, belongs to that connection and period
-- and covers its sum, and each (connection, period)'s cap less captured
-- covers its sum, wattfare_settle would charge every settlement its whole
-- cost (its charge from the lease, its cap limit and its extras all come
-- to that) and apply exactly these sums. Then the events are inserted with
-- a plain INSERT (no ON CONFLICT, no join back to the batch) and the sums
-- applied with a few small UPDATEs: no sort, window, CTE or hash join on
-- the batch's rows. A request already settled (a replayed batch) or twice
-- in the batch makes the INSERT fail with unique_violation, which rolls it
-- back; that batch, and one whose checks fail, goes to wattfare_settle in
-- the same transaction. Locks are taken in wattfare_settle's global order
-- (periods, wallets, leases, each sorted, of the settlements and of the
-- releases) before anything is written, and wattfare_settle then takes no
-- lock that was not already held.
--
-- Its statements look rows up by key for each group (a few rows), or
-- insert the batch straight from the arrays: their generic plans suit any
-- batch, so they are planned once per session rather than per call, as
-- the default plan_cache_mode would for those whose generic plan it
-- estimates dearer than a custom one (wattfare_settle, its fallback, keeps
-- its own force_custom_plan). Their costs stay far below jit_above_cost.
CREATE OR REPLACE FUNCTION wattfare_settle_grouped(
    p_request_id text[], p_created_at timestamptz[], p_lease_id text[], p_from_lease bigint[],
    p_app_id text[], p_mode text[], p_connection_id text[], p_account_id text[],
    p_app_user_id text[], p_key_id text[], p_model text[], p_upstream text[],
    p_upstream_id text[], p_endpoint text[], p_stream boolean[], p_status text[],
    p_prompt_tokens bigint[], p_completion_tokens bigint[], p_cached_tokens bigint[],
    p_reasoning_tokens bigint[], p_cost bigint[], p_duration_ms integer[],
    p_release text[],
    p_l_id text[], p_l_connection_id text[], p_l_period date[], p_l_sum bigint[],
    p_cp_connection_id text[], p_cp_period date[], p_cp_sum bigint[], p_cp_n bigint[],
    p_w_account_id text[], p_w_mode text[], p_w_sum bigint[],
    p_d_day date[], p_d_app_id text[], p_d_mode text[], p_d_connection_id text[],
    p_d_account_id text[], p_d_model text[], p_d_n bigint[], p_d_prompt_tokens bigint[],
    p_d_completion_tokens bigint[], p_d_cost bigint[])
RETURNS TABLE (o_inserted integer, o_charged bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    m date;
    ok boolean;
    crossed boolean;
BEGIN
    FOREACH m IN ARRAY p_cp_period LOOP
        IF to_regclass('usage_events_' || to_char(m, 'YYYY_MM')) IS NULL THEN
            PERFORM wattfare_usage_partition(m::timestamp AT TIME ZONE 'UTC');
        END IF;
    END LOOP;

    -- As wattfare_settle: make the periods, then lock periods, wallets and
    -- leases in order.
    INSERT INTO connection_periods (connection_id, period)
    SELECT g.c, g.p FROM unnest(p_cp_connection_id, p_cp_period) AS g(c, p)
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM connection_periods cp
    WHERE (cp.connection_id, cp.period) IN (
        SELECT g.c, g.p FROM unnest(p_cp_connection_id, p_cp_period) AS g(c, p)
        UNION
        SELECT l.connection_id, l.period FROM leases l WHERE l.id = ANY(p_release) AND l.released_at IS NULL)
    ORDER BY cp.connection_id, cp.period FOR UPDATE;
    PERFORM 1 FROM wallets w
    WHERE (w.account_id, w.mode) IN (
        SELECT g.a, g.m FROM unnest(p_w_account_id, p_w_mode) AS g(a, m)
        UNION
        SELECT l.account_id, l.mode FROM leases l WHERE l.id = ANY(p_release) AND l.released_at IS NULL)
    ORDER BY w.account_id, w.mode FOR UPDATE;
    PERFORM 1 FROM leases l
    WHERE l.id = ANY(p_l_id) OR l.id = ANY(p_release)
    ORDER BY l.id FOR UPDATE;

    SELECT (SELECT count(*) = cardinality(p_l_id)
                   AND coalesce(bool_and(l.released_at IS NULL AND l.connection_id = g.c
                                         AND l.period = g.p AND l.amount >= g.v), false)
            FROM unnest(p_l_id, p_l_connection_id, p_l_period, p_l_sum) AS g(id, c, p, v)
            JOIN leases l ON l.id = g.id)
       AND (SELECT count(*) = cardinality(p_cp_connection_id)
                   AND coalesce(bool_and(cn.monthly_cap - cp.captured >= g.v), false)
            FROM unnest(p_cp_connection_id, p_cp_period, p_cp_sum) AS g(c, p, v)
            JOIN connection_periods cp ON cp.connection_id = g.c AND cp.period = g.p
            JOIN connections cn ON cn.id = g.c)
    INTO ok;

    IF ok THEN
        BEGIN
            INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id,
                key_id, model, upstream, upstream_id, endpoint, stream, status, prompt_tokens, completion_tokens,
                cached_tokens, reasoning_tokens, cost, charged, duration_ms)
            SELECT unnest(p_request_id), unnest(p_created_at), unnest(p_app_id), unnest(p_mode),
                unnest(p_connection_id), unnest(p_account_id), unnest(p_app_user_id), unnest(p_key_id),
                unnest(p_model), unnest(p_upstream), unnest(p_upstream_id), unnest(p_endpoint),
                unnest(p_stream), unnest(p_status), unnest(p_prompt_tokens), unnest(p_completion_tokens),
                unnest(p_cached_tokens), unnest(p_reasoning_tokens), unnest(p_cost), unnest(p_cost),
                unnest(p_duration_ms);
        EXCEPTION WHEN unique_violation THEN
            ok := false;
        END;
    END IF;
    IF NOT ok THEN
        RETURN QUERY SELECT * FROM wattfare_settle(p_request_id, p_created_at, p_lease_id, p_from_lease,
            p_app_id, p_mode, p_connection_id, p_account_id, p_app_user_id, p_key_id, p_model, p_upstream,
            p_upstream_id, p_endpoint, p_stream, p_status, p_prompt_tokens, p_completion_tokens,
            p_cached_tokens, p_reasoning_tokens, p_cost, p_duration_ms, p_release);
        RETURN;
    END IF;

    -- One statement applies the sums (every row it updates is locked).
    WITH ul AS (
        UPDATE leases l SET amount = l.amount - g.v
        FROM unnest(p_l_id, p_l_sum) AS g(id, v)
        WHERE l.id = g.id AND g.v > 0
    ),
    uw AS (
        UPDATE wallets w SET captured = w.captured + g.v, held = w.held - g.v
        FROM unnest(p_w_account_id, p_w_mode, p_w_sum) AS g(a, m, v)
        WHERE w.account_id = g.a AND w.mode = g.m AND g.v > 0
    ),
    ud AS (
        INSERT INTO usage_daily (day, app_id, mode, connection_id, account_id, model, requests,
                                 prompt_tokens, completion_tokens, cost)
        SELECT * FROM unnest(p_d_day, p_d_app_id, p_d_mode, p_d_connection_id, p_d_account_id, p_d_model,
                             p_d_n, p_d_prompt_tokens, p_d_completion_tokens, p_d_cost)
        ON CONFLICT (app_id, mode, day, connection_id, model) DO UPDATE
        SET requests = usage_daily.requests + excluded.requests,
            prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
            cost = usage_daily.cost + excluded.cost
    ),
    up AS (
        UPDATE connection_periods cp
        SET captured = cp.captured + g.v, held = cp.held - g.v, requests = cp.requests + g.n
        FROM unnest(p_cp_connection_id, p_cp_period, p_cp_sum, p_cp_n) AS g(c, p, v, n)
        WHERE cp.connection_id = g.c AND cp.period = g.p
        RETURNING g.v, cp.captured >= cp.alert_at AS crossed
    )
    SELECT coalesce(sum(v), 0)::bigint, coalesce(bool_or(up.crossed), false) INTO o_charged, crossed FROM up;

    -- A period whose spend reached its next threshold of the cap (alert_at,
    -- one comparison per group above) records it: webhooks and alerts.
    IF crossed THEN
        PERFORM wattfare_spend_crossed(p_cp_connection_id, p_cp_period);
    END IF;

    IF cardinality(p_release) > 0 THEN
        PERFORM wattfare_lease_release(p_release, false);
    END IF;

    o_inserted := cardinality(p_request_id);
    RETURN NEXT;
END $$;
