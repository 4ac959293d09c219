-- wattfare_lease_shrink gives back up to p_amount of an open lease's
-- unspent amount to its period and wallet, and returns what it gave back.
-- A process does it with its idle spare when another process announces
-- (lease_pressure) that it was refused while leases held budget.
CREATE OR REPLACE FUNCTION wattfare_lease_shrink(p_lease_id text, p_amount bigint)
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
