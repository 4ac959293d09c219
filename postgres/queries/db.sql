-- name: DatabaseExists :one
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = @name::text);

-- name: AdvisoryXactLock :exec
-- Holds advisory lock @key until the transaction ends.
SELECT pg_advisory_xact_lock(@key::bigint);
