-- wattfare_lease_release releases the given leases exactly once: each lease
-- still open (and, when p_only_expired, past its expiry) gets released_at,
-- and its unspent amount goes back to its period and wallet. The caller must
-- already hold, or be free to take, the period and wallet locks in order.
CREATE OR REPLACE FUNCTION wattfare_lease_release(p_ids text[], p_only_expired boolean)
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
