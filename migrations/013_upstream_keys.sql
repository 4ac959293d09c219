-- The upstream backstop: with OpenRouter key management configured, each
-- live connection gets its own OpenRouter API key whose limit is the
-- connection's monthly cap at upstream cost (limit_reset monthly), so a
-- defect in Wattfare's own engine cannot spend past it. Durable jobs
-- (package jobs) create, patch, disable and delete the key; this row is
-- what they last made OpenRouter hold.
--
-- The secret is sealed (internal/keyring: AES-256-GCM under
-- WATTFARE_ENCRYPTION_KEY, prefixed with the sealing key's id, bound to the
-- connection id) and opened only in the data plane's memory. Saving a key
-- touches its connection, so the connection's change notification makes
-- every data plane reload it.
CREATE TABLE upstream_keys (
    connection_id  text PRIMARY KEY REFERENCES connections,
    upstream       text NOT NULL DEFAULT 'openrouter',
    hash           text UNIQUE,               -- OpenRouter's id of the key; NULL until provisioned
    secret         bytea,                     -- sealed; NULL until provisioned and once deleted
    limit_nanos    bigint CHECK (limit_nanos >= 0), -- the limit OpenRouter holds, as last set
    disabled       boolean NOT NULL DEFAULT false,  -- as last set on OpenRouter
    attempts       integer NOT NULL DEFAULT 0,      -- failed calls to OpenRouter since the last success
    last_error     text NOT NULL DEFAULT '',
    provisioned_at timestamptz,
    deleted_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((hash IS NULL) = (provisioned_at IS NULL)),
    CHECK (secret IS NULL OR hash IS NOT NULL)
);
-- The keys still to delete or to reconcile.
CREATE INDEX upstream_keys_live ON upstream_keys (connection_id) WHERE hash IS NOT NULL AND deleted_at IS NULL;

---- create above / drop below ----

DROP TABLE IF EXISTS upstream_keys;
