-- wattfare_settle's statements take their arrays as parameters. After five
-- calls on a connection, PL/pgSQL switches to a generic plan, which cannot
-- see how long the arrays are: it estimates one row per CTE and joins the
-- batch's inserted events back to the batch with a nested loop, so a batch
-- of n settlements cost n² text comparisons (a third of Postgres's work per
-- settlement at 256 per batch, more for larger batches). Planned for the
-- arrays at hand each time, the join is a hash join; the planning costs far
-- less than the loop did (BenchmarkSettlePostgres: 66 → 43 µs of Postgres
-- CPU per settlement).
ALTER FUNCTION wattfare_settle SET plan_cache_mode = force_custom_plan;

---- create above / drop below ----

ALTER FUNCTION wattfare_settle RESET plan_cache_mode;
