-- Dashboards read the daily rollups (usage_daily) over the days
-- @first_day..@last_day; receipts read usage_events.

-- name: AppUsageByDay :many
SELECT day, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
FROM usage_daily
WHERE app_id = @app_id AND mode = @mode AND day BETWEEN @first_day AND @last_day
GROUP BY day ORDER BY day;

-- name: AppUsageByModel :many
SELECT model, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
FROM usage_daily
WHERE app_id = @app_id AND mode = @mode AND day BETWEEN @first_day AND @last_day
GROUP BY model ORDER BY 5 DESC, model;

-- name: AppUsageByUser :many
-- The app's first @lim connections by cost.
SELECT u.connection_id, c.app_user_id, u.requests, u.prompt_tokens, u.completion_tokens, u.cost
FROM (
  SELECT d.connection_id, sum(d.requests)::bigint AS requests, sum(d.prompt_tokens)::bigint AS prompt_tokens,
         sum(d.completion_tokens)::bigint AS completion_tokens, sum(d.cost)::bigint AS cost
  FROM usage_daily d
  WHERE d.app_id = @app_id AND d.mode = @mode AND d.day BETWEEN @first_day AND @last_day
  GROUP BY d.connection_id ORDER BY 5 DESC, d.connection_id LIMIT @lim
) u JOIN connections c ON c.id = u.connection_id
ORDER BY u.cost DESC, u.connection_id;

-- name: PlatformUsageByDay :many
SELECT day, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
FROM usage_daily
WHERE mode = @mode AND day BETWEEN @first_day AND @last_day
GROUP BY day ORDER BY day;

-- name: PlatformUsageByModel :many
SELECT model, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
FROM usage_daily
WHERE mode = @mode AND day BETWEEN @first_day AND @last_day
GROUP BY model ORDER BY 5 DESC, model;

-- name: PlatformUsageByApp :many
SELECT app_id, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
FROM usage_daily
WHERE mode = @mode AND day BETWEEN @first_day AND @last_day
GROUP BY app_id ORDER BY 5 DESC, app_id LIMIT @lim;

-- name: ReceiptsPage :many
-- An account's settled requests in @mode within [@from_at, @to_at) (either
-- may be NULL), newest first, after the cursor (@after_at, @after_id).
SELECT request_id, created_at, app_id, mode, model, status, stream, prompt_tokens, completion_tokens,
       cost, charged, duration_ms
FROM usage_events
WHERE account_id = @account_id AND mode = @mode
  AND (sqlc.narg(from_at)::timestamptz IS NULL OR created_at >= sqlc.narg(from_at)::timestamptz)
  AND (sqlc.narg(to_at)::timestamptz IS NULL OR created_at < sqlc.narg(to_at)::timestamptz)
  AND (sqlc.narg(after_at)::timestamptz IS NULL
       OR (created_at, request_id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text))
ORDER BY created_at DESC, request_id DESC
LIMIT @lim;
