-- A dead process's leases are no longer released because they expired:
-- they stay reserved until a process replays its spool and releases them
-- (wattfare_release_process_leases), or an operator abandons its spool
-- (wattfare_process_abandon). The sweep is gone.
DROP FUNCTION IF EXISTS wattfare_lease_sweep(integer);

---- create above / drop below ----

-- Back to 008: the sweep as it was.
-- (It released leases that expired without being released: those of processes
-- that died or lost Postgres.)
CREATE OR REPLACE FUNCTION wattfare_lease_sweep(p_limit integer)
RETURNS TABLE (o_id text, o_amount bigint)
LANGUAGE sql AS $$
    SELECT * FROM wattfare_lease_release(ARRAY(
        SELECT id FROM leases WHERE released_at IS NULL AND expires_at < now()
        ORDER BY expires_at LIMIT p_limit), true);
$$;
