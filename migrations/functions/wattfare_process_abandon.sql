-- wattfare_process_abandon resolves the open leases of data-plane process
-- p_process_id when an operator marks its spool lost (wattfare spool
-- abandon: its host is gone, so no process can replay it). What its
-- requests consumed is unknown, so the conservative choice is made: each
-- open lease's whole amount is captured, as a usage event of status
-- 'abandoned' (request id 'abandon_' || lease id, dated within the lease's
-- period), through wattfare_settle, and the lease is released. A lease is
-- only ever held within the cap and the wallet, so this never passes
-- either. It refuses (o_alive_until set, nothing done) while any lease of
-- the process is unexpired: the process renewed it within the last lease
-- TTL and may be alive. Run twice, the second run finds nothing open.
CREATE OR REPLACE FUNCTION wattfare_process_abandon(p_process_id text)
RETURNS TABLE (o_leases integer, o_captured bigint, o_alive_until timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    alive timestamptz;
    ids text[];
    a_req text[]; a_at timestamptz[]; a_lease text[]; a_amount bigint[]; a_app text[]; a_mode text[];
    a_conn text[]; a_acct text[]; a_user text[]; a_empty text[]; a_stream boolean[]; a_status text[];
    a_zero bigint[]; a_dur integer[];
    v_n integer;
    v_charged bigint;
BEGIN
    SELECT max(expires_at) INTO alive FROM leases WHERE process_id = p_process_id AND expires_at > now();
    IF alive IS NOT NULL THEN
        RETURN QUERY SELECT 0, 0::bigint, alive;
        RETURN;
    END IF;

    -- Lock in the global order (functions/README.md): periods, wallets, leases.
    PERFORM 1 FROM connection_periods cp
    WHERE (cp.connection_id, cp.period) IN (
        SELECT l.connection_id, l.period FROM leases l WHERE l.process_id = p_process_id AND l.released_at IS NULL)
    ORDER BY cp.connection_id, cp.period FOR UPDATE;
    PERFORM 1 FROM wallets w
    WHERE (w.account_id, w.mode) IN (
        SELECT l.account_id, l.mode FROM leases l WHERE l.process_id = p_process_id AND l.released_at IS NULL)
    ORDER BY w.account_id, w.mode FOR UPDATE;
    PERFORM 1 FROM leases l WHERE l.process_id = p_process_id AND l.released_at IS NULL ORDER BY l.id FOR UPDATE;
    -- A renewal that got in before the locks.
    SELECT max(expires_at) INTO alive FROM leases WHERE process_id = p_process_id AND expires_at > now();
    IF alive IS NOT NULL THEN
        RETURN QUERY SELECT 0, 0::bigint, alive;
        RETURN;
    END IF;

    SELECT coalesce(array_agg(l.id ORDER BY l.id), '{}') INTO ids
    FROM leases l WHERE l.process_id = p_process_id AND l.released_at IS NULL;
    IF cardinality(ids) = 0 THEN
        RETURN QUERY SELECT 0, 0::bigint, NULL::timestamptz;
        RETURN;
    END IF;

    SELECT coalesce(array_agg('abandon_' || l.id ORDER BY l.id), '{}'),
           coalesce(array_agg(least(greatest(l.granted_at, l.period::timestamp AT TIME ZONE 'UTC'),
                                    (l.period + interval '1 month')::timestamp AT TIME ZONE 'UTC' - interval '1 microsecond')
                              ORDER BY l.id), '{}'),
           coalesce(array_agg(l.id ORDER BY l.id), '{}'),
           coalesce(array_agg(l.amount ORDER BY l.id), '{}'),
           coalesce(array_agg(c.app_id ORDER BY l.id), '{}'),
           coalesce(array_agg(l.mode ORDER BY l.id), '{}'),
           coalesce(array_agg(l.connection_id ORDER BY l.id), '{}'),
           coalesce(array_agg(l.account_id ORDER BY l.id), '{}'),
           coalesce(array_agg(c.app_user_id ORDER BY l.id), '{}'),
           coalesce(array_agg(''::text ORDER BY l.id), '{}'),
           coalesce(array_agg(false ORDER BY l.id), '{}'),
           coalesce(array_agg('abandoned'::text ORDER BY l.id), '{}'),
           coalesce(array_agg(0::bigint ORDER BY l.id), '{}'),
           coalesce(array_agg(0 ORDER BY l.id), '{}')
    INTO a_req, a_at, a_lease, a_amount, a_app, a_mode, a_conn, a_acct, a_user, a_empty, a_stream, a_status,
         a_zero, a_dur
    FROM leases l JOIN connections c ON c.id = l.connection_id
    WHERE l.process_id = p_process_id AND l.released_at IS NULL AND l.amount > 0;

    SELECT s.o_inserted, s.o_charged INTO v_n, v_charged
    FROM wattfare_settle(a_req, a_at, a_lease, a_amount, a_app, a_mode, a_conn, a_acct, a_user,
        a_empty, a_empty, a_empty, a_empty, a_empty, a_stream, a_status,
        a_zero, a_zero, a_zero, a_zero, a_amount, a_dur, ids) s;

    RETURN QUERY SELECT cardinality(ids), v_charged, NULL::timestamptz;
END $$;
