-- name: OwnedConnectionForUpdate :one
SELECT monthly_cap, status FROM connections WHERE id = @id AND account_id = @account_id FOR NO KEY UPDATE;

-- name: SetConnectionCap :exec
UPDATE connections SET monthly_cap = $2, updated_at = now() WHERE id = $1;

-- name: RevokeConnection :exec
UPDATE connections SET status = 'revoked', revoked_at = now(), updated_at = now() WHERE id = $1;

-- name: EnsureConnection :one
WITH ins AS (
  INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap)
  VALUES (@id, @app_id, @mode, @app_user_id, @account_id, @monthly_cap)
  ON CONFLICT (app_id, mode, app_user_id) DO NOTHING RETURNING connections.id)
SELECT ins.id FROM ins
UNION ALL
SELECT c.id FROM connections c WHERE c.app_id = @app_id AND c.mode = @mode AND c.app_user_id = @app_user_id
LIMIT 1;

-- name: LockPeriodCaptured :one
-- What the connection captured in the period, with the period's row locked
-- until the transaction ends (settlements lock it too).
SELECT captured FROM connection_periods WHERE connection_id = @connection_id AND period = @period FOR UPDATE;

-- A connection is read with its spend in the period @period (captured and
-- held) and what its paying wallet has not spent. Pages are newest first,
-- after the cursor (@after_at, @after_id) when given.

-- name: ConnectionByID :one
SELECT sqlc.embed(c), coalesce(p.captured, 0)::bigint AS captured, coalesce(p.held, 0)::bigint AS held,
       coalesce(w.credits - w.captured, 0)::bigint AS wallet_unspent
FROM connections c
LEFT JOIN connection_periods p ON p.connection_id = c.id AND p.period = @period::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = @id;

-- name: AccountConnection :one
SELECT sqlc.embed(c), coalesce(p.captured, 0)::bigint AS captured, coalesce(p.held, 0)::bigint AS held,
       coalesce(w.credits - w.captured, 0)::bigint AS wallet_unspent
FROM connections c
LEFT JOIN connection_periods p ON p.connection_id = c.id AND p.period = @period::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = @id AND c.account_id = @account_id;

-- name: AccountConnectionsPage :many
SELECT sqlc.embed(c), coalesce(p.captured, 0)::bigint AS captured, coalesce(p.held, 0)::bigint AS held,
       coalesce(w.credits - w.captured, 0)::bigint AS wallet_unspent
FROM connections c
LEFT JOIN connection_periods p ON p.connection_id = c.id AND p.period = @period::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.account_id = @account_id AND (@mode::text = '' OR c.mode = @mode::text)
  AND (sqlc.narg(after_at)::timestamptz IS NULL
       OR (c.created_at, c.id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text))
ORDER BY c.created_at DESC, c.id DESC
LIMIT @lim;

-- name: AppConnectionsPage :many
SELECT sqlc.embed(c), coalesce(p.captured, 0)::bigint AS captured, coalesce(p.held, 0)::bigint AS held,
       coalesce(w.credits - w.captured, 0)::bigint AS wallet_unspent
FROM connections c
LEFT JOIN connection_periods p ON p.connection_id = c.id AND p.period = @period::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.app_id = @app_id AND c.mode = @mode
  AND (sqlc.narg(after_at)::timestamptz IS NULL
       OR (c.created_at, c.id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text))
ORDER BY c.created_at DESC, c.id DESC
LIMIT @lim;
