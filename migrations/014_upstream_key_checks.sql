-- The nightly reconciliation of the backstop: for each connection with an
-- OpenRouter key, what Wattfare captured at upstream cost this month
-- (usage_events.cost of its OpenRouter requests) against the key's own
-- usage_monthly as OpenRouter reports it (GET /api/v1/keys/{hash}). Drift
-- is shown to admins; a key that spent more than Wattfare metered means
-- requests went out that Wattfare did not charge.
CREATE TABLE upstream_key_checks (
    id            bigserial PRIMARY KEY,
    connection_id text NOT NULL REFERENCES connections,
    hash          text NOT NULL,
    period        date NOT NULL CHECK (extract(day FROM period) = 1),
    checked_at    timestamptz NOT NULL DEFAULT now(),
    ours          bigint NOT NULL,            -- nano-dollars, upstream cost metered by Wattfare
    upstream      bigint NOT NULL,            -- nano-dollars, the key's usage_monthly
    drift         bigint GENERATED ALWAYS AS (upstream - ours) STORED,
    key_limit     bigint,                     -- the key's limit as OpenRouter reports it
    disabled      boolean NOT NULL DEFAULT false
);
CREATE INDEX upstream_key_checks_recent ON upstream_key_checks (checked_at DESC);
CREATE INDEX upstream_key_checks_connection ON upstream_key_checks (connection_id, checked_at DESC);

---- create above / drop below ----

DROP TABLE IF EXISTS upstream_key_checks;
