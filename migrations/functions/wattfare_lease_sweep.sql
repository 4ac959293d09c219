-- wattfare_lease_sweep releases up to p_limit leases that expired without
-- being released: those of processes that died or lost Postgres. Any live
-- process runs it now and then; the released_at guard makes it exactly once.
CREATE OR REPLACE FUNCTION wattfare_lease_sweep(p_limit integer)
RETURNS TABLE (o_id text, o_amount bigint)
LANGUAGE sql AS $$
    SELECT * FROM wattfare_lease_release(ARRAY(
        SELECT id FROM leases WHERE released_at IS NULL AND expires_at < now()
        ORDER BY expires_at LIMIT p_limit), true);
$$;
