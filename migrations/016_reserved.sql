-- 016 was reserved for issue 11 (payments), which landed everything it
-- needed in 015. tern runs numbered migrations only without gaps, so this
-- no-op keeps 017 onwards running. Issue 11's next migration is 021.
SELECT 1;

---- create above / drop below ----

SELECT 1;
