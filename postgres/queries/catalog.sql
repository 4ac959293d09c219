-- The data plane's catalog: what it caches to authenticate and price a
-- request. Each row carries its version for the cache.

-- name: CatalogKeyBySecretHash :one
SELECT * FROM api_keys WHERE secret_sha256 = $1;

-- name: CatalogApp :one
SELECT * FROM apps WHERE id = $1;

-- name: CatalogConnection :one
SELECT * FROM connections WHERE app_id = $1 AND mode = $2 AND app_user_id = $3;

-- name: CatalogModels :many
SELECT * FROM models ORDER BY id;
