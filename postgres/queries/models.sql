-- name: ListModels :many
SELECT * FROM models ORDER BY id;

-- name: GetModel :one
SELECT * FROM models WHERE id = $1;
