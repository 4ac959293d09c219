-- name: ShrinkLease :one
SELECT wattfare_lease_shrink(@lease_id::text, @amount::bigint)::bigint AS given_back;

-- name: CheckPayers :many
-- For each (connection, key, lease) in order: why the payer may not spend
-- (empty when it may), and whether the lease is still open.
SELECT (CASE
         WHEN c.id IS NULL THEN 'not_connected'
         WHEN (@key_ids::text[])[i] <> '' AND (k.id IS NULL OR k.revoked_at IS NOT NULL
              OR (k.expires_at IS NOT NULL AND k.expires_at <= now())
              OR k.app_id <> c.app_id OR k.mode <> c.mode) THEN 'invalid_api_key'
         WHEN a.suspended_at IS NOT NULL THEN 'app_suspended'
         WHEN c.status <> 'active' THEN 'connection_revoked'
         WHEN w.frozen_at IS NOT NULL THEN 'wallet_frozen'
         ELSE '' END)::text AS reason,
       coalesce(ls.released_at IS NULL AND ls.expires_at > now(), false)::boolean AS lease_open
FROM generate_subscripts(@connection_ids::text[], 1) AS i
LEFT JOIN connections c ON c.id = (@connection_ids::text[])[i]
LEFT JOIN apps a ON a.id = c.app_id
LEFT JOIN api_keys k ON k.id = (@key_ids::text[])[i]
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
LEFT JOIN leases ls ON ls.id = (@lease_ids::text[])[i]
ORDER BY i;

-- name: ConnectionBudget :one
-- A connection's cap, what its period captured and holds, and its wallet's
-- credits and captured (NULL without a wallet).
SELECT c.monthly_cap, coalesce(cp.captured, 0)::bigint AS captured, coalesce(cp.held, 0)::bigint AS held,
       w.credits AS wallet_credits, w.captured AS wallet_captured
FROM connections c
LEFT JOIN connection_periods cp ON cp.connection_id = c.id AND cp.period = @period::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = @connection_id;

-- name: Notify :exec
SELECT pg_notify(@channel::text, @payload::text);
