-- The catalog follows OpenRouter's GET /api/v1/models: a sync (wattfare
-- catalog sync, the control plane's periodic one, or the embedded snapshot)
-- adds models, updates prices and limits, and disables what is gone; rows
-- are never deleted, since usage rows name them.
--
-- prompt_price and completion_price stay the upstream's cost in pico-dollars
-- per token; what users pay is that times (1 + markup), the model's own
-- markup_bps or, when NULL, catalog_settings.markup_bps (basis points:
-- 1000 is 10 %).
--
-- A model is served when enabled. enabled is kept equal to
-- NOT admin_disabled AND disabled_reason = '' by every write of the
-- catalog: disabled_reason says why a sync cannot serve it (gone from
-- OpenRouter, a price Wattfare does not charge), admin_disabled that an
-- admin turned it off.
ALTER TABLE models
    ADD COLUMN markup_bps integer CHECK (markup_bps BETWEEN 0 AND 100000),
    ADD COLUMN admin_disabled boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled_reason text NOT NULL DEFAULT '',
    ADD COLUMN pricing jsonb NOT NULL DEFAULT '{}',               -- the upstream's price strings as received
    ADD COLUMN architecture jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN supported_parameters text[] NOT NULL DEFAULT '{}',
    ADD COLUMN synced_at timestamptz;                             -- last sync that listed it

CREATE INDEX models_search ON models (lower(id) text_pattern_ops);

-- One row: the catalog-wide markup. Changing it changes every price users
-- pay, so it notifies as a model change (the data plane drops its models).
CREATE TABLE catalog_settings (
    id         text PRIMARY KEY DEFAULT 'global' CHECK (id = 'global'),
    markup_bps integer NOT NULL DEFAULT 0 CHECK (markup_bps BETWEEN 0 AND 100000),
    version    bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_settings (id) VALUES ('global');
CREATE TRIGGER catalog_settings_version BEFORE UPDATE ON catalog_settings FOR EACH ROW EXECUTE FUNCTION wattfare_bump_version();
CREATE TRIGGER catalog_settings_notify AFTER INSERT OR UPDATE ON catalog_settings FOR EACH ROW EXECUTE FUNCTION wattfare_notify_change('model');

-- Each sync, successful or not, with its diff for the admin console.
CREATE TABLE catalog_syncs (
    id          bigserial PRIMARY KEY,
    actor_id    text,                        -- the admin who ran it, NULL for the system
    source      text NOT NULL,               -- a URL, or the snapshot's name
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    error       text NOT NULL DEFAULT '',    -- non-empty: nothing was changed
    listed      integer NOT NULL DEFAULT 0,  -- models the source listed
    added       integer NOT NULL DEFAULT 0,
    changed     integer NOT NULL DEFAULT 0,
    disabled    integer NOT NULL DEFAULT 0,
    diff        jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX catalog_syncs_recent ON catalog_syncs (finished_at DESC);

---- create above / drop below ----

DROP TABLE IF EXISTS catalog_syncs, catalog_settings;
DROP INDEX IF EXISTS models_search;
ALTER TABLE models
    DROP COLUMN IF EXISTS markup_bps,
    DROP COLUMN IF EXISTS admin_disabled,
    DROP COLUMN IF EXISTS disabled_reason,
    DROP COLUMN IF EXISTS pricing,
    DROP COLUMN IF EXISTS architecture,
    DROP COLUMN IF EXISTS supported_parameters,
    DROP COLUMN IF EXISTS synced_at;
