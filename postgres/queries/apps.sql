-- name: InsertApp :one
INSERT INTO apps (id, owner_id, name, allowed_origins) VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: UpdateOwnedApp :one
UPDATE apps SET name = coalesce(sqlc.narg(name), name), allowed_origins = coalesce(sqlc.narg(allowed_origins)::text[], allowed_origins)
WHERE id = @id AND owner_id = @owner_id
RETURNING *;

-- name: OwnedApp :one
SELECT * FROM apps WHERE id = @id AND owner_id = @owner_id;

-- name: AppByID :one
SELECT * FROM apps WHERE id = $1;

-- name: AppsByIDs :many
SELECT * FROM apps WHERE id = ANY(@ids::text[]);

-- name: AppByOwnerAndName :one
SELECT * FROM apps WHERE owner_id = $1 AND name = $2 ORDER BY created_at LIMIT 1;

-- name: SuspendApp :one
UPDATE apps SET suspended_at = coalesce(suspended_at, now()), suspended_reason = @reason
WHERE id = @id
RETURNING *;

-- name: UnsuspendApp :one
UPDATE apps SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1
RETURNING *;

-- name: LockOrigin :exec
-- Held until the transaction ends, so that two developers registering one
-- origin at once cannot both pass OriginOfOtherOwner.
SELECT pg_advisory_xact_lock(hashtextextended('wattfare.app_origin:' || @origin::text, 0));

-- name: OriginOfOtherOwner :one
-- The first of @origins that an app of another owner than @owner_id lists.
SELECT o::text AS origin FROM apps, unnest(apps.allowed_origins) AS o
WHERE apps.owner_id <> @owner_id::text AND o = ANY(@origins::text[])
ORDER BY o LIMIT 1;

-- Pages of apps are newest first, after the cursor (@after_at, @after_id)
-- when given.

-- name: OwnerAppsPage :many
SELECT * FROM apps
WHERE owner_id = @owner_id
  AND (sqlc.narg(after_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: AppsPage :many
SELECT * FROM apps
WHERE sqlc.narg(after_at)::timestamptz IS NULL
   OR (created_at, id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::text)
ORDER BY created_at DESC, id DESC
LIMIT @lim;
