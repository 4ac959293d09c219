-- name: ListModels :many
SELECT * FROM models ORDER BY id;
