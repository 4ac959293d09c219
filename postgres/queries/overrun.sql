-- name: OverrunTotal :one
-- What settled requests in @mode admitted in [@from_at, @to_at) cost beyond
-- what was captured for them, and how many overran.
SELECT coalesce(sum(cost - charged), 0)::bigint AS overrun, count(*) AS requests
FROM usage_events
WHERE mode = @mode AND created_at >= @from_at AND created_at < @to_at AND cost > charged;

-- name: LatestOverruns :many
-- The latest @lim requests in @mode that cost more than was captured.
SELECT request_id, created_at, app_id, account_id, connection_id, app_user_id, model, status, cost, charged
FROM usage_events
WHERE mode = @mode AND cost > charged
ORDER BY created_at DESC, request_id DESC
LIMIT @lim;
