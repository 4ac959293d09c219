-- name: InsertAccount :one
INSERT INTO accounts (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING
RETURNING *;

-- name: CreateWallets :exec
INSERT INTO wallets (account_id, mode) VALUES (@account_id::text, 'test'), (@account_id::text, 'live');

-- name: AccountByEmail :one
SELECT * FROM accounts WHERE email = $1;

-- name: AccountByID :one
SELECT * FROM accounts WHERE id = $1;

-- name: AccountsByIDs :many
SELECT * FROM accounts WHERE id = ANY(@ids::text[]);

-- name: SetAdmin :execrows
UPDATE accounts SET is_admin = $2 WHERE id = $1;

-- name: CreateDashboardSession :one
INSERT INTO dashboard_sessions (token_sha256, account_id, expires_at)
VALUES (@token_sha256, @account_id, now() + make_interval(secs => @ttl_seconds::bigint))
RETURNING expires_at;

-- name: DashboardSessionAccount :one
SELECT a.* FROM dashboard_sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_sha256 = $1 AND s.expires_at > now();

-- name: DeleteDashboardSession :execrows
DELETE FROM dashboard_sessions WHERE token_sha256 = $1;

-- name: DeleteExpiredSession :exec
DELETE FROM dashboard_sessions WHERE token_sha256 = $1 AND expires_at <= now();

-- name: DeleteExpiredAccountSessions :exec
DELETE FROM dashboard_sessions WHERE account_id = $1 AND expires_at <= now();

-- name: DeleteExpiredSessions :execrows
DELETE FROM dashboard_sessions WHERE token_sha256 IN (
  SELECT token_sha256 FROM dashboard_sessions WHERE expires_at <= now() LIMIT @lim);

-- name: AccountsPage :many
-- Every account, newest first, after the cursor (@after_at, @after_id) when given.
SELECT * FROM accounts
WHERE sqlc.narg(after_at)::timestamptz IS NULL
   OR (created_at, id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text)
ORDER BY created_at DESC, id DESC
LIMIT @lim;
