-- The data plane's catalog: what it caches to authenticate and price a
-- request. Each row carries its version for the cache. Keys, apps and models
-- are read with the queries of keys.sql, apps.sql and models.sql.

-- name: CatalogConnection :one
SELECT * FROM connections WHERE app_id = $1 AND mode = $2 AND app_user_id = $3;
