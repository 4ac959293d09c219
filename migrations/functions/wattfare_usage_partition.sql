-- wattfare_usage_partition creates the month partition that contains t, if
-- missing. Settlement calls it for a new month; the migration makes a few.
CREATE OR REPLACE FUNCTION wattfare_usage_partition(t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo date := date_trunc('month', t AT TIME ZONE 'UTC')::date;
    name text := 'usage_events_' || to_char(lo, 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                       name, lo::timestamp AT TIME ZONE 'UTC', (lo + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    END IF;
END $$;
