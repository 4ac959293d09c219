-- name: InsertAudit :exec
INSERT INTO audit_log (actor_id, action, target_type, target_id, data) VALUES ($1, $2, $3, $4, $5);

-- name: ModelsByIDs :many
SELECT * FROM models WHERE id = ANY(@ids::text[]);

-- name: UpdateModelPrices :one
UPDATE models SET prompt_price = @prompt_price, completion_price = @completion_price, updated_at = now()
WHERE id = @id
RETURNING *;
