-- Webhooks to apps (issue 15). webhook_events is the outbox: a row is
-- written in the transaction of the change it reports (a revoke, a cap
-- change, a suspension, a key revoked; the first cap refusal of a period in
-- wattfare_lease_grant; the cap's 80 % crossed as a settlement captures it),
-- so an event exists if and only if its change committed. The control
-- plane's jobs fan each event out to the app's endpoints of its mode
-- (webhook_deliveries) and deliver them in order of created_at.
CREATE TABLE webhook_events (
    id            text PRIMARY KEY,             -- "evt_…"
    app_id        text NOT NULL REFERENCES apps,
    mode          text NOT NULL CHECK (mode IN ('test', 'live')),
    type          text NOT NULL,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    dispatched_at timestamptz                   -- fanned out to the endpoints
);
CREATE INDEX webhook_events_undispatched ON webhook_events (created_at) WHERE dispatched_at IS NULL;

-- An app's endpoint in one mode. The signing secret is sealed (keyring,
-- WATTFARE_ENCRYPTION_KEY, bound to the endpoint's id); after a roll the
-- previous one keeps signing beside it until previous_expires_at.
CREATE TABLE webhook_endpoints (
    id                  text PRIMARY KEY,       -- "we_…"
    app_id              text NOT NULL REFERENCES apps,
    mode                text NOT NULL CHECK (mode IN ('test', 'live')),
    url                 text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events              text[] NOT NULL,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text,                   -- set when Wattfare disabled it
    disabled_at         timestamptz,
    secret              bytea NOT NULL,
    previous_secret     bytea,
    previous_expires_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);
CREATE INDEX webhook_endpoints_app ON webhook_endpoints (app_id, mode) WHERE deleted_at IS NULL;

-- One event's delivery to one endpoint; attempts are retried with backoff
-- by a river job (jobs.WebhookDeliver). Bodies sent and received are not
-- kept: the response code and a short error only.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,          -- "whd_…"
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints,
    event_id         text NOT NULL REFERENCES webhook_events,
    event_created_at timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    response_code    integer,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz
);
CREATE INDEX webhook_deliveries_open ON webhook_deliveries (endpoint_id, event_created_at, id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);

-- Thresholds of a connection's cap crossed in a period (50, 80, 100 %),
-- each once: the 80 % one is the connection.cap_warning event, and all of
-- them are what people's budget alerts read. alert_at is the captured
-- amount at which the next threshold is crossed (0: to be computed by the
-- next settlement, NULL: none left); only a settlement that reaches it runs
-- wattfare_spend_crossed, so the settlement path pays one comparison.
-- cap_reached_at marks the period's first cap refusal.
ALTER TABLE connection_periods
    ADD COLUMN alert_at bigint DEFAULT 0,
    ADD COLUMN cap_reached_at timestamptz;

CREATE TABLE spend_thresholds (
    connection_id text NOT NULL REFERENCES connections,
    period        date NOT NULL,
    percent       smallint NOT NULL CHECK (percent IN (50, 80, 100)),
    crossed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, period, percent)
);

---- create above / drop below ----

DROP TRIGGER IF EXISTS connection_periods_thresholds ON connection_periods;
DROP TABLE IF EXISTS spend_thresholds, webhook_deliveries, webhook_endpoints, webhook_events;
ALTER TABLE connection_periods DROP COLUMN IF EXISTS alert_at, DROP COLUMN IF EXISTS cap_reached_at;
