-- Live money: top-ups paid through Stripe, the webhook events that credit
-- and take them back, refunds, disputes, auto-recharge and admin grants.
--
-- wallets.credits stays what the wallet may spend from (every credit less
-- every take-back); taken_back is what refunds and lost disputes took back.
-- Captures and holds only ever come out of room that credits left, so
-- credits + taken_back - captured - held >= 0 always holds, and
-- credits - captured - held < 0 only because of a take-back (DESIGN.md,
-- invariant 2 with refunds and disputes). A frozen wallet (an open dispute)
-- gets no new hold, and the data plane ends what it admitted on it.
ALTER TABLE wallets
    ADD COLUMN taken_back bigint NOT NULL DEFAULT 0 CHECK (taken_back >= 0),
    ADD COLUMN frozen_at timestamptz,
    DROP CONSTRAINT wallet_covers,
    ADD CONSTRAINT wallet_covers CHECK (credits + taken_back - captured - held >= 0);

-- One Stripe Customer per account, made on its first top-up.
CREATE TABLE stripe_customers (
    account_id  text PRIMARY KEY REFERENCES accounts,
    customer_id text NOT NULL UNIQUE,
    -- the card saved at Checkout (setup_future_usage: off_session) that
    -- auto-recharge charges
    payment_method_id text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A top-up is one payment into an account's live wallet: a Checkout Session
-- the user pays, or an off-session PaymentIntent of auto-recharge. Its id is
-- the Checkout Session's client_reference_id and the metadata
-- wattfare_top_up of the session and its PaymentIntent, so every event of
-- the payment finds it. refunded is Stripe's cumulative amount_refunded,
-- refund_taken_back what the ledger already took back for refunds, and
-- taken_back all it took back (refunds and a lost dispute), never more than
-- the top-up brought in.
CREATE TABLE top_ups (
    id                  text PRIMARY KEY,                 -- "tu_…"
    account_id          text NOT NULL REFERENCES accounts,
    source              text NOT NULL DEFAULT 'checkout' CHECK (source IN ('checkout', 'auto_recharge')),
    amount              bigint NOT NULL CHECK (amount > 0),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded', 'partially_refunded', 'disputed')),
    checkout_session_id text UNIQUE,
    checkout_url        text NOT NULL DEFAULT '',
    payment_intent_id   text UNIQUE,
    charge_id           text,
    receipt_url         text NOT NULL DEFAULT '',
    refunded            bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    refund_taken_back   bigint NOT NULL DEFAULT 0 CHECK (refund_taken_back >= 0),
    taken_back          bigint NOT NULL DEFAULT 0 CHECK (taken_back >= 0 AND taken_back <= amount),
    failure             text NOT NULL DEFAULT '',
    credited_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX top_ups_account ON top_ups (account_id, created_at DESC, id DESC);

-- The ledger names the source of each entry and, for a payment's entries,
-- the payment: (source, ref) is unique, so a top-up is credited once and a
-- refund or dispute taken back once whatever the webhook redelivers.
ALTER TABLE wallet_ledger
    DROP CONSTRAINT wallet_ledger_kind_check,
    ADD CONSTRAINT wallet_ledger_kind_check CHECK (kind IN ('credit', 'debit', 'adjustment')),
    ADD COLUMN source text NOT NULL DEFAULT 'grant'
        CHECK (source IN ('top_up', 'refund', 'dispute', 'grant', 'test_credit')),
    ADD COLUMN ref text,
    ADD COLUMN top_up_id text REFERENCES top_ups,
    ADD COLUMN actor_id text;
UPDATE wallet_ledger SET source = 'test_credit' WHERE mode = 'test';
CREATE UNIQUE INDEX wallet_ledger_ref ON wallet_ledger (source, ref) WHERE ref IS NOT NULL;

-- Append-only: see functions/wattfare_ledger_append_only.sql, whose
-- trigger refuses any UPDATE or DELETE of wallet_ledger.

-- Disputes of top-ups. An open one (needs_response, under_review,
-- warning_*) freezes the account's live wallet; won or warning_closed
-- unfreezes it once no other is open; lost takes the disputed amount back.
CREATE TABLE disputes (
    id         text PRIMARY KEY,                              -- Stripe's "dp_…"
    top_up_id  text NOT NULL REFERENCES top_ups,
    account_id text NOT NULL REFERENCES accounts,
    amount     bigint NOT NULL CHECK (amount >= 0),
    status     text NOT NULL,
    closed     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_open ON disputes (account_id) WHERE NOT closed;

-- Every verified webhook event, recorded in the transaction that applies
-- it, so each is applied once. outcome says what it did ("credited",
-- "ignored: unknown type", "refused: currency eur", …); refused events are
-- what the admin console's reconciliation lists for a person to look at.
-- An event about a payment the ledger does not know yet (a refund that
-- arrives before its checkout.session.completed) waits, parsed, in
-- payload, and is applied when the payment becomes known.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY,                             -- Stripe's "evt_…"
    type        text NOT NULL,
    top_up_id   text,
    payment_intent_id text,
    outcome     text NOT NULL,
    waiting     boolean NOT NULL DEFAULT false,
    payload     jsonb,
    needs_admin boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL,                         -- the event's own time
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_admin ON stripe_events (received_at DESC) WHERE needs_admin;
CREATE INDEX stripe_events_waiting ON stripe_events (payment_intent_id) WHERE waiting;

-- Auto-recharge: when the live wallet's available balance falls under
-- threshold, one off-session charge of amount on the card saved at
-- Checkout. crossing counts the times the balance fell under the threshold
-- since it was last above: the charge's idempotency key names it, so a
-- burst of settlements in one crossing makes one charge.
CREATE TABLE auto_recharge (
    account_id        text PRIMARY KEY REFERENCES accounts,
    enabled           boolean NOT NULL DEFAULT false,
    threshold         bigint NOT NULL CHECK (threshold >= 0),
    amount            bigint NOT NULL CHECK (amount > 0),
    payment_method_id text NOT NULL DEFAULT '',
    crossing          bigint NOT NULL DEFAULT 0,
    armed             boolean NOT NULL DEFAULT true,           -- the balance was above threshold since the last charge
    disabled_reason   text NOT NULL DEFAULT '',
    updated_at        timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE IF EXISTS auto_recharge, stripe_events, disputes CASCADE;
DROP TRIGGER IF EXISTS wallet_ledger_append_only ON wallet_ledger;
DROP INDEX IF EXISTS wallet_ledger_ref;
ALTER TABLE wallet_ledger DROP COLUMN source, DROP COLUMN ref, DROP COLUMN top_up_id, DROP COLUMN actor_id,
    DROP CONSTRAINT wallet_ledger_kind_check,
    ADD CONSTRAINT wallet_ledger_kind_check CHECK (kind IN ('credit', 'adjustment'));
DROP TABLE IF EXISTS top_ups, stripe_customers CASCADE;
ALTER TABLE wallets DROP CONSTRAINT wallet_covers, DROP COLUMN taken_back, DROP COLUMN frozen_at,
    ADD CONSTRAINT wallet_covers CHECK (credits - captured - held >= 0);
