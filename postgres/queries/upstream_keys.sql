-- The upstream backstop: each live connection's own OpenRouter key
-- (migrations/013_upstream_keys.sql), kept by the jobs of jobs/upstreamkeys.go.

-- name: CatalogConnectionWithKey :one
-- The data plane's view of a connection, with its sealed upstream key when
-- one is provisioned and not disabled: one round trip per cache load.
SELECT sqlc.embed(c), k.secret AS upstream_secret
FROM connections c
LEFT JOIN upstream_keys k ON k.connection_id = c.id AND k.deleted_at IS NULL AND NOT k.disabled
WHERE c.app_id = $1 AND c.mode = $2 AND c.app_user_id = $3;

-- name: EnsureUpstreamKey :exec
INSERT INTO upstream_keys (connection_id) VALUES ($1) ON CONFLICT (connection_id) DO NOTHING;

-- name: HasUpstreamKey :one
SELECT EXISTS (SELECT 1 FROM upstream_keys WHERE connection_id = $1);

-- name: UpstreamKeysOfApp :many
SELECT k.connection_id FROM upstream_keys k JOIN connections c ON c.id = k.connection_id
WHERE c.app_id = $1 ORDER BY k.connection_id;

-- name: LockUpstreamKey :one
-- The key and what it must reflect, its row locked for the job that
-- brings OpenRouter in line: two jobs of one connection never both create.
SELECT sqlc.embed(k), c.status, c.mode, c.monthly_cap, (a.suspended_at IS NOT NULL)::boolean AS app_suspended
FROM upstream_keys k
JOIN connections c ON c.id = k.connection_id
JOIN apps a ON a.id = c.app_id
WHERE k.connection_id = $1
FOR UPDATE OF k;

-- name: UpstreamMinMarkup :one
-- The smallest markup (basis points) any OpenRouter model may be sold at:
-- a key's limit is the cap at upstream cost, cap / (1 + this).
SELECT least(
    coalesce((SELECT markup_bps FROM catalog_settings WHERE id = 'global'), 0),
    coalesce((SELECT min(markup_bps) FROM models WHERE upstream = 'openrouter'), 100000)
)::integer AS markup_bps;

-- name: SaveUpstreamKeyCreated :exec
UPDATE upstream_keys
SET hash = $2, secret = $3, limit_nanos = $4, disabled = false, provisioned_at = now(), deleted_at = NULL,
    attempts = 0, last_error = '', updated_at = now()
WHERE connection_id = $1;

-- name: SaveUpstreamKeyState :exec
UPDATE upstream_keys SET limit_nanos = $2, disabled = $3, attempts = 0, last_error = '', updated_at = now()
WHERE connection_id = $1;

-- name: SaveUpstreamKeyDeleted :exec
UPDATE upstream_keys SET secret = NULL, disabled = true, deleted_at = now(), attempts = 0, last_error = '', updated_at = now()
WHERE connection_id = $1;

-- name: UpstreamKeyFailed :exec
UPDATE upstream_keys SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE connection_id = $1;

-- name: TouchConnection :exec
-- A no-op write whose triggers bump the connection's version and notify:
-- the data planes reload it with its new upstream key.
UPDATE connections SET updated_at = now() WHERE id = $1;

-- name: UpstreamKeysToCheck :many
SELECT connection_id, hash::text AS hash FROM upstream_keys
WHERE hash IS NOT NULL AND deleted_at IS NULL ORDER BY connection_id;

-- name: UpstreamMeteredCost :one
-- What Wattfare metered at upstream cost for a connection's OpenRouter
-- requests in [from, to).
SELECT coalesce(sum(cost), 0)::bigint FROM usage_events
WHERE connection_id = $1 AND upstream = 'openrouter' AND created_at >= sqlc.arg(from_at) AND created_at < sqlc.arg(to_at);

-- name: InsertUpstreamKeyCheck :exec
INSERT INTO upstream_key_checks (connection_id, hash, period, ours, upstream, key_limit, disabled)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: LatestUpstreamKeyChecks :many
-- The newest check of each connection, largest drift first.
SELECT DISTINCT ON (abs(drift), connection_id) sqlc.embed(upstream_key_checks)
FROM (
    SELECT DISTINCT ON (connection_id) * FROM upstream_key_checks ORDER BY connection_id, checked_at DESC, id DESC
) upstream_key_checks
ORDER BY abs(drift) DESC, connection_id
LIMIT $1;
