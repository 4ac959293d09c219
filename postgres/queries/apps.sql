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
