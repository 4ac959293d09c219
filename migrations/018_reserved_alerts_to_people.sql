-- 018 is reserved for alerts to people (issue 15): tern runs numbered migrations only
-- without gaps, so this no-op keeps later numbers running until that
-- work replaces it with its own migration (same number, its own name).
SELECT 1;

---- create above / drop below ----

SELECT 1;
