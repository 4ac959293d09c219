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
