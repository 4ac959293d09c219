-- wattfare_cap_lowered keeps captured + held <= cap when a connection's cap
-- goes down (invariant 1 at every read): in the same transaction, it takes
-- the excess back from the connection's open leases. The data-plane
-- processes hear of the change and surrender those leases; until then what
-- they admit on them is charged only as far as the lease and the new cap
-- allow. A cap set below what is already captured cannot undo that spend.
CREATE OR REPLACE FUNCTION wattfare_cap_lowered() RETURNS trigger
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
