-- name: LatestAbandoned :many
-- The latest @lim leases of lost spools captured in @mode in
-- [@from_at, @to_at): usage events of status 'abandoned', whose request id
-- is 'abandon_' || the lease id, with the process that held the lease.
-- No index holds these rows alone, so the period bounds the scan to one
-- month's partition.
SELECT e.request_id, e.created_at, e.app_id, e.account_id, e.connection_id, e.app_user_id, e.charged,
       coalesce(l.process_id, '')::text AS process_id
FROM usage_events e
LEFT JOIN leases l ON l.id = substr(e.request_id, length('abandon_') + 1)
WHERE e.mode = @mode AND e.status = 'abandoned' AND e.created_at >= @from_at AND e.created_at < @to_at
ORDER BY e.created_at DESC, e.request_id DESC
LIMIT @lim;
