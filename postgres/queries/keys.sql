-- name: InsertKey :one
INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: CountActiveKeys :one
SELECT count(*) FROM api_keys
WHERE app_id = $1 AND mode = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- name: OwnedKeyForUpdate :one
SELECT k.* FROM api_keys k JOIN apps a ON a.id = k.app_id
WHERE k.id = @key_id AND a.owner_id = @owner_id
FOR UPDATE OF k;

-- name: ShortenKeyWindow :exec
-- The window of a rolled key can only shrink, never grow.
UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => @overlap_seconds::bigint))
WHERE id = @key_id;

-- name: RevokeOwnedKey :one
UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
FROM apps a WHERE a.id = k.app_id AND k.id = @key_id AND a.owner_id = @owner_id
RETURNING k.*;

-- name: KeysForApp :many
SELECT * FROM api_keys WHERE app_id = @app_id AND (@mode::text = '' OR mode = @mode::text)
ORDER BY created_at DESC, id DESC;

-- name: KeyBySecretHash :one
SELECT * FROM api_keys WHERE secret_sha256 = $1;

-- name: LockOwnedApp :one
SELECT id FROM apps WHERE id = @app_id AND owner_id = @owner_id FOR UPDATE;

-- name: KeysForApps :many
SELECT * FROM api_keys WHERE app_id = ANY(@app_ids::text[])
ORDER BY created_at DESC, id DESC;
