-- wattfare_spend_crossed records the thresholds of the cap (50, 80 and
-- 100 %) that the connections' captured spend has reached in the given
-- periods (pairs of p_connection_id and p_period), each once per period
-- (spend_thresholds): the 80 % one as a connection.cap_warning webhook
-- event, each as the budget owner's alert if they chose it
-- (wattfare_cap_alert). It then sets each period's
-- alert_at to the next threshold, so the settlement functions, which call it
-- only for a period whose captured reached alert_at, run it a few times a
-- month per connection. The periods' rows are locked by the caller.
CREATE OR REPLACE FUNCTION wattfare_spend_crossed(p_connection_id text[], p_period date[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    pct smallint;
    thr bigint;
    nxt bigint;
    n integer;
BEGIN
    FOR r IN
        SELECT cp.connection_id, cp.period, cp.captured, c.monthly_cap
        FROM connection_periods cp
        JOIN connections c ON c.id = cp.connection_id
        WHERE (cp.connection_id, cp.period) IN (SELECT * FROM unnest(p_connection_id, p_period))
          AND cp.captured >= cp.alert_at
        ORDER BY cp.connection_id, cp.period
    LOOP
        nxt := NULL;
        IF r.monthly_cap > 0 THEN
            FOREACH pct IN ARRAY ARRAY[50, 80, 100]::smallint[] LOOP
                thr := ceil(r.monthly_cap::numeric * pct / 100)::bigint;
                IF r.captured >= thr THEN
                    INSERT INTO spend_thresholds (connection_id, period, percent)
                    VALUES (r.connection_id, r.period, pct) ON CONFLICT DO NOTHING;
                    GET DIAGNOSTICS n = ROW_COUNT;
                    IF n > 0 THEN
                        PERFORM wattfare_cap_alert(r.connection_id, r.period, pct);
                    END IF;
                    IF n > 0 AND pct = 80 THEN
                        PERFORM wattfare_connection_event(r.connection_id, 'connection.cap_warning', r.period,
                            jsonb_build_object('threshold_percent', 80));
                    END IF;
                ELSIF nxt IS NULL THEN
                    nxt := thr;
                END IF;
            END LOOP;
        END IF;
        UPDATE connection_periods SET alert_at = nxt
        WHERE connection_id = r.connection_id AND period = r.period;
    END LOOP;
END $$;
