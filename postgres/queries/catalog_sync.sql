-- The catalog as users pay for it (with the global markup beside each
-- model), its sync with OpenRouter, and the admin's switches.

-- name: ListModelsMarked :many
SELECT sqlc.embed(models), catalog_settings.markup_bps AS global_markup
FROM models, catalog_settings ORDER BY models.id;

-- name: ModelsByIDsMarked :many
SELECT sqlc.embed(models), catalog_settings.markup_bps AS global_markup
FROM models, catalog_settings WHERE models.id = ANY(@ids::text[]);

-- name: SearchModels :many
SELECT sqlc.embed(models), catalog_settings.markup_bps AS global_markup, count(*) OVER () AS total
FROM models, catalog_settings
WHERE @query::text = ''
   OR strpos(lower(models.id), lower(@query::text)) > 0
   OR strpos(lower(models.display_name), lower(@query::text)) > 0
ORDER BY models.id
LIMIT @lim::int;

-- name: GlobalMarkup :one
SELECT markup_bps FROM catalog_settings;

-- name: SetGlobalMarkup :one
UPDATE catalog_settings SET markup_bps = @markup_bps, updated_at = now() RETURNING markup_bps;

-- name: LockCatalog :exec
-- One sync at a time: the settings row is the catalog's lock.
SELECT 1 FROM catalog_settings FOR UPDATE;

-- name: UpstreamModelsForUpdate :many
SELECT * FROM models WHERE upstream = @upstream ORDER BY id FOR UPDATE;

-- name: InsertSyncedModel :execrows
-- A model of another upstream under the same id is left alone (0 rows).
INSERT INTO models (id, upstream, upstream_model, kind, display_name, prompt_price, completion_price,
                    context_length, max_output_tokens, enabled, disabled_reason, pricing, architecture,
                    supported_parameters, synced_at)
VALUES (@id, @upstream, @id, @kind, @display_name, @prompt_price, @completion_price,
        @context_length, @max_output_tokens, @disabled_reason::text = '', @disabled_reason, @pricing, @architecture,
        @supported_parameters, now())
ON CONFLICT (id) DO NOTHING;

-- name: UpdateSyncedModel :exec
UPDATE models SET display_name = @display_name, prompt_price = @prompt_price, completion_price = @completion_price,
    context_length = @context_length, max_output_tokens = @max_output_tokens,
    disabled_reason = @disabled_reason, enabled = NOT admin_disabled AND @disabled_reason::text = '',
    pricing = @pricing, architecture = @architecture, supported_parameters = @supported_parameters,
    synced_at = now(), updated_at = now()
WHERE id = @id;

-- name: SetModelEnabled :one
UPDATE models SET admin_disabled = NOT @enabled::boolean, enabled = @enabled::boolean AND disabled_reason = '', updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetModelMarkup :one
UPDATE models SET markup_bps = @markup_bps, updated_at = now() WHERE id = @id RETURNING *;

-- name: InsertCatalogSync :one
INSERT INTO catalog_syncs (actor_id, source, started_at, error, listed, added, changed, disabled, diff)
VALUES (@actor_id, @source, @started_at, @error, @listed, @added, @changed, @disabled, @diff)
RETURNING *;

-- name: LastCatalogSync :one
SELECT * FROM catalog_syncs ORDER BY finished_at DESC, id DESC LIMIT 1;
