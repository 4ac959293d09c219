-- Leases in a scope that can still admit: one connection's (@connection_id),
-- or every connection's of an app (@app_id) in @mode ('' for both). An
-- empty id matches nothing.

-- name: CountOpenLeasesInScope :one
SELECT count(*) FROM leases l
WHERE l.released_at IS NULL AND l.expires_at > now()
  AND ((@connection_id::text <> '' AND l.connection_id = @connection_id::text)
    OR (@app_id::text <> '' AND l.connection_id IN (
          SELECT c.id FROM connections c WHERE c.app_id = @app_id::text AND (@mode::text = '' OR c.mode = @mode::text))));

-- name: OpenLeaseIDsInScope :many
SELECT l.id FROM leases l
WHERE l.released_at IS NULL AND l.expires_at > now()
  AND ((@connection_id::text <> '' AND l.connection_id = @connection_id::text)
    OR (@app_id::text <> '' AND l.connection_id IN (
          SELECT c.id FROM connections c WHERE c.app_id = @app_id::text AND (@mode::text = '' OR c.mode = @mode::text))));

-- name: OpenLeaseExpiries :many
-- When each of @ids that can still admit expires.
SELECT expires_at FROM leases
WHERE id = ANY(@ids::text[]) AND released_at IS NULL AND expires_at > now();
