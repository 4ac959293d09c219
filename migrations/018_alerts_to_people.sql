-- Alerts to people (issue 15): a budget owner chooses which thresholds of
-- each connection's cap (50, 80, 100 %, from spend_thresholds) and which
-- wallet balance, per mode, alert them. An alert that fires is a row of
-- alerts, written in the transaction of the crossing together with the
-- river job that emails it (wattfare_alert_fire); the budget page lists
-- them whether or not email is configured, and the user dismisses them.

-- A connection's chosen thresholds. No row: the default, 80 and 100 %.
CREATE TABLE connection_alert_settings (
    connection_id text PRIMARY KEY REFERENCES connections,
    percents      smallint[] NOT NULL CHECK (percents <@ ARRAY[50, 80, 100]::smallint[]),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The wallet's low-balance alert, on the wallet's own row so that the
-- settlement path pays only a trigger's WHEN test for it: alert_below is the
-- amount (NULL: off, the default), alert_armed whether the next crossing
-- below it fires (cleared when one does, set again once the balance is back
-- at or above it). The balance is credits - captured: spend settled, not
-- what leases hold for requests in flight, which comes and goes.
ALTER TABLE wallets
    ADD COLUMN alert_below bigint CHECK (alert_below > 0),
    ADD COLUMN alert_armed boolean NOT NULL DEFAULT true;

-- Alerts fired. A cap alert is one per connection, period and threshold
-- (the unique key); a wallet alert one per crossing. email_status is the
-- sent state the email job keeps, so that a retried or duplicated job sends
-- none twice.
CREATE TABLE alerts (
    id             text PRIMARY KEY,            -- "alr_…"
    account_id     text NOT NULL REFERENCES accounts,
    mode           text NOT NULL CHECK (mode IN ('test', 'live')),
    kind           text NOT NULL CHECK (kind IN ('cap', 'wallet')),
    connection_id  text REFERENCES connections,
    period         date,
    percent        smallint CHECK (percent IN (50, 80, 100)),
    monthly_cap    bigint,                      -- the cap and spend when it fired (cap alerts)
    spent          bigint,
    below          bigint,                      -- the amount and balance when it fired (wallet alerts)
    balance        bigint,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    email_status   text NOT NULL DEFAULT 'pending'
                   CHECK (email_status IN ('pending', 'sent', 'failed', 'not_configured')),
    email_attempts integer NOT NULL DEFAULT 0,
    email_error    text,
    emailed_at     timestamptz,
    dismissed_at   timestamptz,
    CHECK ((kind = 'cap') = (connection_id IS NOT NULL AND period IS NOT NULL AND percent IS NOT NULL)),
    UNIQUE (connection_id, period, percent)
);
CREATE INDEX alerts_account ON alerts (account_id, mode, created_at DESC);

---- create above / drop below ----

DROP TRIGGER IF EXISTS wallets_alert ON wallets;
DROP FUNCTION IF EXISTS wattfare_wallet_alert(), wattfare_cap_alert(text, date, smallint), wattfare_alert_job(text);
DROP TABLE IF EXISTS alerts, connection_alert_settings;
ALTER TABLE wallets DROP COLUMN IF EXISTS alert_below, DROP COLUMN IF EXISTS alert_armed;
