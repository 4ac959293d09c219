-- wattfare_release_process_leases releases every open lease of data-plane
-- process p_process_id, expired or not, each exactly once (through
-- wattfare_lease_release), and says how many. The spend engine calls it for
-- a dead process only after it committed that process's spool: the
-- spooled settlements and the checkpoints of its open streams are charged
-- from those leases, which is why nothing releases a lease merely because
-- it expired (DESIGN.md invariant 5).
CREATE OR REPLACE FUNCTION wattfare_release_process_leases(p_process_id text)
RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer FROM wattfare_lease_release(ARRAY(
        SELECT id FROM leases WHERE process_id = p_process_id AND released_at IS NULL
        ORDER BY id), false);
$$;
