-- name: ConsentKey :one
SELECT k.id, k.app_id, k.mode, k.public_key, k.expires_at, k.revoked_at
FROM api_keys k
WHERE k.id = $1;

-- name: ConsentOriginRegistered :one
SELECT EXISTS (SELECT 1 FROM apps WHERE sqlc.arg(origin)::text = ANY (allowed_origins));

-- name: ConsentConnection :one
SELECT c.id, c.account_id, c.monthly_cap, c.status, c.revoked_at, c.updated_at,
       coalesce(p.captured, 0)::bigint AS captured,
       coalesce(p.held, 0)::bigint AS held,
       coalesce(w.credits - w.captured, 0)::bigint AS wallet_available
FROM connections c
LEFT JOIN connection_periods p ON p.connection_id = c.id AND p.period = sqlc.arg(period)::date
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.app_id = $1 AND c.mode = $2 AND c.app_user_id = $3;

-- name: ConsentUpsertConnection :one
-- An approval (re)activates the connection of (app, mode, app user) for the
-- approving account with the cap the user chose. Approving the same thing
-- twice leaves the row as it was, apart from its version.
INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (app_id, mode, app_user_id) DO UPDATE
SET account_id  = EXCLUDED.account_id,
    monthly_cap = EXCLUDED.monthly_cap,
    status      = 'active',
    revoked_at  = NULL,
    updated_at  = now()
WHERE connections.account_id IS DISTINCT FROM EXCLUDED.account_id
   OR connections.monthly_cap IS DISTINCT FROM EXCLUDED.monthly_cap
   OR connections.status <> 'active'
RETURNING id;

-- name: ConsentLockConnection :exec
-- Taken first by an approval, so that a revoke committing meanwhile is
-- seen (and not silently undone by the upsert).
SELECT id FROM connections WHERE app_id = $1 AND mode = $2 AND app_user_id = $3 FOR NO KEY UPDATE;

-- name: SandboxCandidates :many
-- The accounts holding any of @emails (an app's sandbox addresses), and
-- whether each was created as a sandbox: its password hash matches no
-- password, so a person who signed up with the address first is not one.
SELECT email, id, password_hash = '!sandbox' AS sandbox FROM accounts WHERE email = ANY(@emails::text[]);
