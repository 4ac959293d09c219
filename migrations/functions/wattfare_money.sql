-- wattfare_money formats nano-dollars as the API writes Money (Go's
-- Money.String): a decimal dollar amount with two to nine fractional
-- digits, "10.00", "0.000002", "-1.50". Webhook payloads built in SQL use it.
CREATE OR REPLACE FUNCTION wattfare_money(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN n < 0 THEN '-' ELSE '' END) || (abs(n::numeric) / 1000000000)::bigint::text || '.'
        || (SELECT CASE WHEN length(rtrim(f, '0')) < 2 THEN substr(f, 1, 2) ELSE rtrim(f, '0') END
            FROM (SELECT lpad((abs(n::numeric) % 1000000000)::bigint::text, 9, '0') AS f) x)
$$;
