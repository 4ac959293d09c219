package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// Default bounds of one top-up (configurable: Payments.MinTopUp, MaxTopUp).
const (
	DefaultMinTopUp = 5 * wattfare.Dollar
	DefaultMaxTopUp = 500 * wattfare.Dollar
	// MaxGrant bounds one admin grant.
	MaxGrant = 10_000 * wattfare.Dollar
	// maxPendingTopUps bounds the checkouts an account may have started
	// and not paid within an hour: each one is a call to Stripe.
	maxPendingTopUps = 20
)

// Payments keeps top-ups, applies verified Stripe events to the live
// ledger, and holds auto-recharge settings and admin grants. Provider is
// nil when Stripe is not configured: top-ups are then refused with
// EPAYMENTSNOTCONFIGURED, and grants still work.
type Payments struct {
	DB       *pgxpool.Pool
	Provider wattfare.PaymentProvider
	// PublicURL is the control plane's origin, for Checkout's return URLs.
	PublicURL          string
	MinTopUp, MaxTopUp wattfare.Money
	Log                *slog.Logger
}

var _ wattfare.PaymentService = (*Payments)(nil)

func (s *Payments) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Payments) bounds() (wattfare.Money, wattfare.Money) {
	lo, hi := s.MinTopUp, s.MaxTopUp
	if lo <= 0 {
		lo = DefaultMinTopUp
	}
	if hi <= 0 {
		hi = DefaultMaxTopUp
	}
	return lo, hi
}

// Configured reports whether top-ups can be taken (Stripe is configured).
func (s *Payments) Configured() bool { return s.Provider != nil }

// TopUpBounds returns the least and most one top-up may be.
func (s *Payments) TopUpBounds() (wattfare.Money, wattfare.Money) { return s.bounds() }

func errPaymentsOff() error {
	return wattfare.Errorf(wattfare.EPAYMENTSNOTCONFIGURED, "payments are not configured on this Wattfare")
}

const topUpColumns = `id, account_id, source, amount, status, checkout_url, receipt_url, refunded, failure, created_at, credited_at`

func scanTopUp(row pgx.Row) (wattfare.TopUp, error) {
	var t wattfare.TopUp
	var amount, refunded int64
	var status string
	err := row.Scan(&t.ID, &t.AccountID, &t.Source, &amount, &status, &t.CheckoutURL, &t.ReceiptURL, &refunded, &t.Failure, &t.CreatedAt, &t.CreditedAt)
	t.Amount, t.Refunded, t.Status = wattfare.Money(amount), wattfare.Money(refunded), wattfare.TopUpStatus(status)
	return t, err
}

// StartTopUp creates a pending top-up of amount for the account and its
// Checkout Session, and returns it with the URL where the user pays. The
// wallet is credited later, by the verified webhook of the payment, never
// by the browser's return.
func (s *Payments) StartTopUp(ctx context.Context, accountID string, amount wattfare.Money) (wattfare.TopUp, error) {
	lo, hi := s.bounds()
	if amount < lo || amount > hi {
		return wattfare.TopUp{}, wattfare.InvalidField("amount", "a top-up is at least %s and at most %s", lo, hi)
	}
	if amount%wattfare.Cent != 0 {
		return wattfare.TopUp{}, wattfare.InvalidField("amount", "a top-up is a whole number of cents")
	}
	if s.Provider == nil {
		return wattfare.TopUp{}, errPaymentsOff()
	}
	var pending int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM top_ups WHERE account_id = $1 AND status = 'pending'
		AND source = 'checkout' AND created_at > now() - interval '1 hour'`, accountID).Scan(&pending); err != nil {
		return wattfare.TopUp{}, fmt.Errorf("count pending top-ups: %w", err)
	}
	if pending >= maxPendingTopUps {
		return wattfare.TopUp{}, wattfare.Errorf(wattfare.ERateLimited, "too many unpaid checkouts in the last hour: pay or wait for one of them")
	}
	customer, err := s.customer(ctx, accountID)
	if err != nil {
		return wattfare.TopUp{}, err
	}
	id := wattfare.NewID("tu_")
	if _, err := s.DB.Exec(ctx, `INSERT INTO top_ups (id, account_id, amount) VALUES ($1, $2, $3)`, id, accountID, amount.Nanos()); err != nil {
		return wattfare.TopUp{}, fmt.Errorf("insert top-up: %w", interpretError(err))
	}
	base := strings.TrimRight(s.PublicURL, "/")
	cs, err := s.Provider.CreateCheckout(ctx, wattfare.CheckoutRequest{
		TopUpID: id, CustomerID: customer, Amount: amount, SaveCard: true,
		SuccessURL: base + "/budget?top_up=" + id,
		CancelURL:  base + "/budget?top_up=" + id + "&cancelled=1",
	})
	if err != nil {
		s.log().Error("start top-up: create checkout session", "top_up", id, "account", accountID, "err", err)
		if _, uerr := s.DB.Exec(ctx, `UPDATE top_ups SET status = 'failed', failure = 'checkout could not start', updated_at = now() WHERE id = $1`, id); uerr != nil {
			s.log().Error("start top-up: mark failed", "top_up", id, "err", uerr)
		}
		return wattfare.TopUp{}, wattfare.Errorf(wattfare.EUnavailable, "the payment provider could not start a checkout; try again")
	}
	return scanTopUp(s.DB.QueryRow(ctx, `UPDATE top_ups SET checkout_session_id = $2, checkout_url = $3, updated_at = now()
		WHERE id = $1 RETURNING `+topUpColumns, id, cs.ID, cs.URL))
}

// customer returns the account's Stripe Customer, creating it on first use.
// Stripe's idempotency key is the account's, so a race makes one Customer
// and both inserts agree on it.
func (s *Payments) customer(ctx context.Context, accountID string) (string, error) {
	var id, email string
	err := s.DB.QueryRow(ctx, `SELECT coalesce(sc.customer_id, ''), a.email FROM accounts a
		LEFT JOIN stripe_customers sc ON sc.account_id = a.id WHERE a.id = $1`, accountID).Scan(&id, &email)
	if err != nil {
		return "", fmt.Errorf("read customer: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such account")))
	}
	if id != "" {
		return id, nil
	}
	id, err = s.Provider.CreateCustomer(ctx, accountID, email)
	if err != nil {
		s.log().Error("create stripe customer", "account", accountID, "err", err)
		return "", wattfare.Errorf(wattfare.EUnavailable, "the payment provider could not be reached; try again")
	}
	if _, err := s.DB.Exec(ctx, `INSERT INTO stripe_customers (account_id, customer_id) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING`, accountID, id); err != nil {
		return "", fmt.Errorf("save customer: %w", err)
	}
	err = s.DB.QueryRow(ctx, `SELECT customer_id FROM stripe_customers WHERE account_id = $1`, accountID).Scan(&id)
	return id, err
}

// TopUps returns a page of the account's top-ups, newest first.
func (s *Payments) TopUps(ctx context.Context, accountID string, p wattfare.Page) (wattfare.Paged[wattfare.TopUp], error) {
	var out wattfare.Paged[wattfare.TopUp]
	n, err := p.Check()
	if err != nil {
		return out, err
	}
	k, err := decodeCursor(p.After)
	if err != nil {
		return out, err
	}
	var rows pgx.Rows
	if k == nil {
		rows, err = s.DB.Query(ctx, `SELECT `+topUpColumns+` FROM top_ups WHERE account_id = $1
			ORDER BY created_at DESC, id DESC LIMIT $2`, accountID, n+1)
	} else {
		rows, err = s.DB.Query(ctx, `SELECT `+topUpColumns+` FROM top_ups WHERE account_id = $1
			AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $2`, accountID, n+1, k.At, k.ID)
	}
	if err != nil {
		return out, fmt.Errorf("list top-ups: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.TopUp, error) { return scanTopUp(r) })
	if err != nil {
		return out, fmt.Errorf("list top-ups: %w", err)
	}
	return newPage(items, n, k != nil, func(t wattfare.TopUp) cursorKey { return cursorKey{At: t.CreatedAt, ID: t.ID} }), nil
}

// TopUp returns one of the account's top-ups.
func (s *Payments) TopUp(ctx context.Context, accountID, id string) (wattfare.TopUp, error) {
	t, err := scanTopUp(s.DB.QueryRow(ctx, `SELECT `+topUpColumns+` FROM top_ups WHERE id = $1 AND account_id = $2`, id, accountID))
	if err != nil {
		return t, fmt.Errorf("get top-up: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such top-up")))
	}
	return t, nil
}

// Grant credits an account's live wallet for support or a promotion, with
// the admin's reason in the ledger and the audit log.
func (s *Payments) Grant(ctx context.Context, actorID, accountID string, amount wattfare.Money, reason string) (wattfare.Wallet, error) {
	reason = strings.TrimSpace(reason)
	if amount <= 0 || amount > MaxGrant {
		return wattfare.Wallet{}, wattfare.InvalidField("amount", "a grant is more than 0 and at most %s", MaxGrant)
	}
	if reason == "" || len(reason) > 500 {
		return wattfare.Wallet{}, wattfare.InvalidField("reason", "say why, in at most 500 characters")
	}
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return wattfare.Errorf(wattfare.ENOTFOUND, "no such account")
		}
		if err := credit(ctx, tx, accountID, amount, wattfare.SourceGrant, nil, "", actorID, reason); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, "wallet.grant", "wallet", accountID+"/live", map[string]any{"amount": amount.String(), "reason": reason})
	})
	if err != nil {
		return wattfare.Wallet{}, err
	}
	return (&Wallets{DB: s.DB}).Get(ctx, accountID, wattfare.ModeLive)
}

// credit adds amount to the account's live wallet with a ledger entry of
// source; ref, when set, makes it once only (it reports false when an entry
// of that source and ref exists).
func credit(ctx context.Context, tx pgx.Tx, accountID string, amount wattfare.Money, source string, ref *string, topUpID, actorID, description string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO wallets (account_id, mode) VALUES ($1, 'live') ON CONFLICT DO NOTHING`, accountID); err != nil {
		return fmt.Errorf("ensure wallet: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO wallet_ledger (account_id, mode, kind, amount, description, source, ref, top_up_id, actor_id)
		VALUES ($1, 'live', 'credit', $2, $3, $4, $5, nullif($6, ''), nullif($7, '')) ON CONFLICT (source, ref) WHERE ref IS NOT NULL DO NOTHING`,
		accountID, amount.Nanos(), description, source, ref, topUpID, actorID)
	if err != nil {
		return fmt.Errorf("ledger credit: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE wallets SET credits = credits + $2, version = version + 1 WHERE account_id = $1 AND mode = 'live'`, accountID, amount.Nanos()); err != nil {
		return fmt.Errorf("credit wallet: %w", err)
	}
	return notifyWallet(ctx, tx, accountID)
}

// takeBack takes up to amount back from the live wallet for a top-up (a
// refund or a lost dispute), never more than the top-up brought in, with a
// ledger debit of source and ref (once only). The wallet may go below zero:
// captures already made are never undone; the ledger then grants no hold
// until it is positive again. It returns what it took.
func takeBack(ctx context.Context, tx pgx.Tx, tu *topUpRow, amount wattfare.Money, source, ref, description string) (wattfare.Money, error) {
	d := min(amount, tu.Amount-tu.TakenBack)
	if d <= 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO wallet_ledger (account_id, mode, kind, amount, description, source, ref, top_up_id)
		VALUES ($1, 'live', 'debit', $2, $3, $4, $5, $6) ON CONFLICT (source, ref) WHERE ref IS NOT NULL DO NOTHING`,
		tu.AccountID, -d.Nanos(), description, source, ref, tu.ID)
	if err != nil {
		return 0, fmt.Errorf("ledger debit: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE wallets SET credits = credits - $2, taken_back = taken_back + $2, version = version + 1
		WHERE account_id = $1 AND mode = 'live'`, tu.AccountID, d.Nanos()); err != nil {
		return 0, fmt.Errorf("take back from wallet: %w", err)
	}
	refund := int64(0)
	if source == wattfare.SourceRefund {
		refund = d.Nanos()
	}
	if _, err := tx.Exec(ctx, `UPDATE top_ups SET taken_back = taken_back + $2, refund_taken_back = refund_taken_back + $3, updated_at = now() WHERE id = $1`,
		tu.ID, d.Nanos(), refund); err != nil {
		return 0, fmt.Errorf("top-up take-back: %w", err)
	}
	tu.TakenBack += d
	tu.RefundTakenBack += wattfare.Money(refund)
	return d, notifyWallet(ctx, tx, tu.AccountID)
}

// notifyWallet tells the data plane, on commit, that the live wallet
// changed: it re-checks the wallet's connections (a frozen wallet ends what
// runs on it; a wallet below zero gets no new lease).
func notifyWallet(ctx context.Context, tx pgx.Tx, accountID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify('wattfare_changes', json_build_object(
		'entity', 'wallet', 'id', w.account_id, 'mode', w.mode, 'version', w.version)::text)
		FROM wallets w WHERE w.account_id = $1 AND w.mode = 'live'`, accountID); err != nil {
		return fmt.Errorf("notify wallet change: %w", err)
	}
	return nil
}

// topUpRow is a top-up as the event handlers read it, locked.
type topUpRow struct {
	ID, AccountID, Source      string
	Amount, Refunded           wattfare.Money
	RefundTakenBack, TakenBack wattfare.Money
	Status                     string
	CheckoutSessionID, PIID    *string
	Credited                   bool
}

func lockTopUp(ctx context.Context, tx pgx.Tx, where string, arg string) (*topUpRow, error) {
	var t topUpRow
	var amount, refunded, rtb, tb int64
	err := tx.QueryRow(ctx, `SELECT id, account_id, source, amount, refunded, refund_taken_back, taken_back, status,
		checkout_session_id, payment_intent_id, credited_at IS NOT NULL FROM top_ups WHERE `+where+` = $1 FOR UPDATE`, arg).
		Scan(&t.ID, &t.AccountID, &t.Source, &amount, &refunded, &rtb, &tb, &t.Status, &t.CheckoutSessionID, &t.PIID, &t.Credited)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock top-up: %w", err)
	}
	t.Amount, t.Refunded, t.RefundTakenBack, t.TakenBack = wattfare.Money(amount), wattfare.Money(refunded), wattfare.Money(rtb), wattfare.Money(tb)
	return &t, nil
}

// findTopUp locks the top-up an event is about: the one it names, else the
// one of its PaymentIntent, Checkout Session or charge.
func findTopUp(ctx context.Context, tx pgx.Tx, ev wattfare.PaymentEvent) (*topUpRow, error) {
	for _, k := range []struct{ col, v string }{
		{"id", ev.TopUpID}, {"payment_intent_id", ev.PaymentIntentID},
		{"checkout_session_id", ev.CheckoutSessionID}, {"charge_id", ev.ChargeID},
	} {
		if k.v == "" {
			continue
		}
		t, err := lockTopUp(ctx, tx, k.col, k.v)
		if t != nil || err != nil {
			return t, err
		}
	}
	return nil, nil
}

// result is what applying one event did: Outcome for the event record and
// the log, NeedsAdmin for a refusal a person must look at, Waiting for an
// event about a payment the ledger does not know yet.
type result struct {
	Outcome    string
	TopUpID    string
	NeedsAdmin bool
	Waiting    bool
}

// Apply applies one verified Stripe event to the ledger, exactly once: the
// event id is recorded in the same transaction, so a redelivery (even ten
// at once) finds it and changes nothing. Each payment is credited once
// whichever of its events arrives first (the ledger entry is unique per
// top-up), and an event about a payment not known yet waits and is applied
// when the payment is.
func (s *Payments) Apply(ctx context.Context, ev wattfare.PaymentEvent) (wattfare.PaymentOutcome, error) {
	var out wattfare.PaymentOutcome
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (id, type, created, outcome) VALUES ($1, $2, $3, 'applying')
			ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, ev.Created)
		if err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			out = wattfare.PaymentOutcome{Duplicate: true, Outcome: "duplicate: applied before"}
			return nil
		}
		r, err := s.apply(ctx, tx, ev)
		if err != nil {
			return err
		}
		var payload []byte
		if r.Waiting {
			if payload, err = json.Marshal(ev); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE stripe_events SET outcome = $2, top_up_id = nullif($3, ''), needs_admin = $4,
			waiting = $5, payload = $6, payment_intent_id = nullif($7, '') WHERE id = $1`,
			ev.ID, r.Outcome, r.TopUpID, r.NeedsAdmin, r.Waiting, payload, ev.PaymentIntentID); err != nil {
			return fmt.Errorf("record outcome: %w", err)
		}
		if r.NeedsAdmin {
			s.log().Warn("stripe event refused: an admin should look at it", "event", ev.ID, "type", ev.Type, "top_up", r.TopUpID, "outcome", r.Outcome)
		}
		out = wattfare.PaymentOutcome{Outcome: r.Outcome, TopUpID: r.TopUpID}
		return nil
	})
	return out, err
}

func (s *Payments) apply(ctx context.Context, tx pgx.Tx, ev wattfare.PaymentEvent) (result, error) {
	switch ev.Type {
	case wattfare.EventCheckoutCompleted, wattfare.EventCheckoutAsyncSucceeded, wattfare.EventPaymentIntentSucceeded:
		return s.applyPaid(ctx, tx, ev)
	case wattfare.EventCheckoutAsyncFailed, wattfare.EventCheckoutExpired, wattfare.EventPaymentIntentPaymentFailed:
		return s.applyFailed(ctx, tx, ev)
	case wattfare.EventChargeSucceeded, wattfare.EventChargeRefunded,
		wattfare.EventDisputeCreated, wattfare.EventDisputeUpdated, wattfare.EventDisputeClosed:
		tu, err := findTopUp(ctx, tx, ev)
		if err != nil {
			return result{}, err
		}
		if tu == nil {
			if ev.PaymentIntentID != "" && ev.TopUpID == "" {
				return result{Outcome: "waiting: payment not known yet", Waiting: true}, nil
			}
			return unknownTopUp(ev), nil
		}
		return s.applyToPayment(ctx, tx, tu, ev)
	default:
		return result{Outcome: "ignored: not an event Wattfare acts on"}, nil
	}
}

func unknownTopUp(ev wattfare.PaymentEvent) result {
	if ev.TopUpID != "" {
		return result{Outcome: "refused: names top-up " + ev.TopUpID + ", which does not exist", NeedsAdmin: true}
	}
	return result{Outcome: "ignored: not a Wattfare payment"}
}

// applyPaid credits the top-up a paid Checkout Session or PaymentIntent
// names, once, after checking it is in USD and of the top-up's amount.
func (s *Payments) applyPaid(ctx context.Context, tx pgx.Tx, ev wattfare.PaymentEvent) (result, error) {
	tu, err := findTopUp(ctx, tx, ev)
	if err != nil || tu == nil {
		return unknownTopUp(ev), err
	}
	r := result{TopUpID: tu.ID}
	if err := s.learnIDs(ctx, tx, tu, ev); err != nil {
		return r, err
	}
	if ev.Type == wattfare.EventCheckoutCompleted && ev.PaymentStatus != "paid" {
		// An asynchronous method (a bank debit): async_payment_succeeded
		// or _failed follows.
		r.Outcome = "pending: payment_status " + ev.PaymentStatus
		return r, s.drainWaiting(ctx, tx, tu)
	}
	if ev.Currency != "usd" {
		r.Outcome, r.NeedsAdmin = fmt.Sprintf("refused: paid in %s (%d minor units), not USD", strings.ToUpper(ev.Currency), ev.MinorAmount), true
		if !tu.Credited {
			if _, err := tx.Exec(ctx, `UPDATE top_ups SET status = 'failed', failure = $2, updated_at = now() WHERE id = $1`,
				tu.ID, "paid in "+strings.ToUpper(ev.Currency)+": refused, support will refund it"); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	if ev.Amount != tu.Amount {
		r.Outcome, r.NeedsAdmin = fmt.Sprintf("refused: paid %s for a top-up of %s", ev.Amount, tu.Amount), true
		return r, nil
	}
	if ev.SavedForOffSession && ev.PaymentMethodID != "" {
		if _, err := tx.Exec(ctx, `UPDATE stripe_customers SET payment_method_id = $2 WHERE account_id = $1`, tu.AccountID, ev.PaymentMethodID); err != nil {
			return r, fmt.Errorf("save card: %w", err)
		}
	}
	if tu.Credited {
		r.Outcome = "already credited"
		return r, s.drainWaiting(ctx, tx, tu)
	}
	ref := "top_up:" + tu.ID
	desc := "Card top-up"
	if tu.Source == wattfare.TopUpAutoRecharge {
		desc = "Auto-recharge"
	}
	if err := credit(ctx, tx, tu.AccountID, tu.Amount, wattfare.SourceTopUp, &ref, tu.ID, "", desc); err != nil {
		return r, err
	}
	if _, err := tx.Exec(ctx, `UPDATE top_ups SET credited_at = now(), failure = '', updated_at = now() WHERE id = $1`, tu.ID); err != nil {
		return r, err
	}
	tu.Credited = true
	r.Outcome = "credited " + tu.Amount.String()
	if err := s.settle(ctx, tx, tu); err != nil {
		return r, err
	}
	return r, s.drainWaiting(ctx, tx, tu)
}

// learnIDs records the Checkout Session and PaymentIntent of a top-up the
// first time an event names them.
func (s *Payments) learnIDs(ctx context.Context, tx pgx.Tx, tu *topUpRow, ev wattfare.PaymentEvent) error {
	if tu.CheckoutSessionID == nil && ev.CheckoutSessionID != "" {
		if _, err := tx.Exec(ctx, `UPDATE top_ups SET checkout_session_id = $2 WHERE id = $1`, tu.ID, ev.CheckoutSessionID); err != nil {
			return fmt.Errorf("record checkout session: %w", interpretError(err))
		}
		tu.CheckoutSessionID = &ev.CheckoutSessionID
	}
	if tu.PIID == nil && ev.PaymentIntentID != "" {
		if _, err := tx.Exec(ctx, `UPDATE top_ups SET payment_intent_id = $2 WHERE id = $1`, tu.ID, ev.PaymentIntentID); err != nil {
			return fmt.Errorf("record payment intent: %w", interpretError(err))
		}
		tu.PIID = &ev.PaymentIntentID
	}
	return nil
}

// drainWaiting applies, in order, the events that waited for this top-up's
// PaymentIntent to become known.
func (s *Payments) drainWaiting(ctx context.Context, tx pgx.Tx, tu *topUpRow) error {
	if tu.PIID == nil {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, payload FROM stripe_events WHERE waiting AND payment_intent_id = $1
		ORDER BY created, received_at FOR UPDATE`, *tu.PIID)
	if err != nil {
		return fmt.Errorf("waiting events: %w", err)
	}
	type waiting struct {
		id      string
		payload []byte
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (waiting, error) {
		var w waiting
		return w, r.Scan(&w.id, &w.payload)
	})
	if err != nil {
		return fmt.Errorf("waiting events: %w", err)
	}
	for _, w := range ws {
		var ev wattfare.PaymentEvent
		if err := json.Unmarshal(w.payload, &ev); err != nil {
			return fmt.Errorf("waiting event %s: %w", w.id, err)
		}
		r, err := s.applyToPayment(ctx, tx, tu, ev)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE stripe_events SET waiting = false, payload = NULL, outcome = $2, top_up_id = $3, needs_admin = $4 WHERE id = $1`,
			w.id, "applied late: "+r.Outcome, tu.ID, r.NeedsAdmin); err != nil {
			return err
		}
	}
	return nil
}

// applyFailed marks a top-up that was not paid as failed. A failed
// auto-recharge charge turns auto-recharge off, with the reason shown on
// the budget page. A PaymentIntent may fail an attempt and succeed later:
// a later success still credits.
func (s *Payments) applyFailed(ctx context.Context, tx pgx.Tx, ev wattfare.PaymentEvent) (result, error) {
	tu, err := findTopUp(ctx, tx, ev)
	if err != nil || tu == nil {
		return unknownTopUp(ev), err
	}
	r := result{TopUpID: tu.ID}
	if err := s.learnIDs(ctx, tx, tu, ev); err != nil {
		return r, err
	}
	if tu.Credited {
		r.Outcome = "ignored: already credited"
		return r, nil
	}
	why := map[string]string{
		wattfare.EventCheckoutAsyncFailed:        "the payment failed",
		wattfare.EventCheckoutExpired:            "the checkout expired unpaid",
		wattfare.EventPaymentIntentPaymentFailed: "the card was declined",
	}[ev.Type]
	if ev.FailureMessage != "" {
		why += ": " + ev.FailureMessage
	}
	if _, err := tx.Exec(ctx, `UPDATE top_ups SET status = 'failed', failure = $2, updated_at = now() WHERE id = $1`, tu.ID, why); err != nil {
		return r, err
	}
	if tu.Source == wattfare.TopUpAutoRecharge {
		if _, err := tx.Exec(ctx, `UPDATE auto_recharge SET enabled = false, disabled_reason = $2, updated_at = now() WHERE account_id = $1`,
			tu.AccountID, "Auto-recharge was turned off: "+why+"."); err != nil {
			return r, err
		}
	}
	r.Outcome = "failed: " + why
	return r, nil
}

// applyToPayment applies a charge or dispute event to a known top-up.
func (s *Payments) applyToPayment(ctx context.Context, tx pgx.Tx, tu *topUpRow, ev wattfare.PaymentEvent) (result, error) {
	r := result{TopUpID: tu.ID}
	if ev.Currency != "" && ev.Currency != "usd" {
		r.Outcome, r.NeedsAdmin = "refused: not in USD ("+ev.Currency+")", true
		return r, nil
	}
	if ev.ChargeID != "" || ev.ReceiptURL != "" {
		if _, err := tx.Exec(ctx, `UPDATE top_ups SET charge_id = coalesce(nullif($2, ''), charge_id),
			receipt_url = coalesce(nullif($3, ''), receipt_url), updated_at = now() WHERE id = $1`, tu.ID, ev.ChargeID, ev.ReceiptURL); err != nil {
			return r, err
		}
	}
	switch ev.Type {
	case wattfare.EventChargeSucceeded:
		r.Outcome = "receipt recorded"
	case wattfare.EventChargeRefunded:
		// amount_refunded is cumulative: keep the largest seen, so an
		// older event delivered late changes nothing.
		if ev.AmountRefunded > tu.Refunded {
			if _, err := tx.Exec(ctx, `UPDATE top_ups SET refunded = $2 WHERE id = $1`, tu.ID, ev.AmountRefunded.Nanos()); err != nil {
				return r, err
			}
			tu.Refunded = ev.AmountRefunded
		}
		r.Outcome = "refunded " + tu.Refunded.String() + " in all"
	case wattfare.EventDisputeCreated, wattfare.EventDisputeUpdated, wattfare.EventDisputeClosed:
		closed := ev.DisputeStatus == "won" || ev.DisputeStatus == "lost" || ev.DisputeStatus == "warning_closed"
		// A closed dispute stays closed: an older event delivered late does
		// not reopen it.
		if _, err := tx.Exec(ctx, `INSERT INTO disputes (id, top_up_id, account_id, amount, status, closed) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, closed = excluded.closed, amount = excluded.amount, updated_at = now()
			WHERE NOT disputes.closed`,
			ev.DisputeID, tu.ID, tu.AccountID, ev.Amount.Nanos(), ev.DisputeStatus, closed); err != nil {
			return r, fmt.Errorf("record dispute: %w", err)
		}
		r.Outcome = "dispute " + ev.DisputeStatus
	}
	if err := s.settle(ctx, tx, tu); err != nil {
		return r, err
	}
	return r, nil
}

// settle brings a top-up's ledger entries and its wallet's freeze in line
// with what is known of its payment: take back newly refunded money and
// lost disputes (only once credited), freeze the live wallet while any
// dispute of the account is open, and set the top-up's status.
func (s *Payments) settle(ctx context.Context, tx pgx.Tx, tu *topUpRow) error {
	if tu.Credited {
		if due := min(tu.Refunded, tu.Amount) - tu.RefundTakenBack; due > 0 {
			ref := fmt.Sprintf("refund:%s:%d", tu.ID, (tu.RefundTakenBack + due).Nanos())
			if _, err := takeBack(ctx, tx, tu, due, wattfare.SourceRefund, ref, "Refund"); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT id, amount FROM disputes WHERE top_up_id = $1 AND status = 'lost' ORDER BY id`, tu.ID)
		if err != nil {
			return err
		}
		type lost struct {
			id     string
			amount int64
		}
		ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lost, error) {
			var l lost
			return l, r.Scan(&l.id, &l.amount)
		})
		if err != nil {
			return err
		}
		for _, l := range ls {
			if _, err := takeBack(ctx, tx, tu, wattfare.Money(l.amount), wattfare.SourceDispute, "dispute:"+l.id, "Dispute lost"); err != nil {
				return err
			}
		}
	}
	if err := freezeWhileDisputed(ctx, tx, tu.AccountID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE top_ups t SET status = CASE
			WHEN t.credited_at IS NULL THEN CASE WHEN t.status = 'failed' THEN 'failed' ELSE 'pending' END
			WHEN EXISTS (SELECT 1 FROM disputes d WHERE d.top_up_id = t.id AND (NOT d.closed OR d.status = 'lost')) THEN 'disputed'
			WHEN t.refunded >= t.amount THEN 'refunded'
			WHEN t.refunded > 0 THEN 'partially_refunded'
			ELSE 'succeeded' END, updated_at = now()
		WHERE t.id = $1`, tu.ID)
	return err
}

// freezeWhileDisputed freezes the account's live wallet while one of its
// disputes is open, and unfreezes it when none is: a won dispute gives the
// wallet back as it was; a lost one has taken the disputed amount back
// first, so the wallet may be below zero and gets no hold until funded.
func freezeWhileDisputed(ctx context.Context, tx pgx.Tx, accountID string) error {
	var wasFrozen, open bool
	err := tx.QueryRow(ctx, `SELECT w.frozen_at IS NOT NULL,
			EXISTS (SELECT 1 FROM disputes d WHERE d.account_id = $1 AND NOT d.closed)
		FROM wallets w WHERE w.account_id = $1 AND w.mode = 'live' FOR UPDATE OF w`, accountID).Scan(&wasFrozen, &open)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && wasFrozen == open {
		return nil
	}
	if err != nil {
		return fmt.Errorf("freeze wallet: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE wallets SET frozen_at = CASE WHEN $2 THEN now() END, version = version + 1
		WHERE account_id = $1 AND mode = 'live'`, accountID, open); err != nil {
		return fmt.Errorf("freeze wallet: %w", err)
	}
	return notifyWallet(ctx, tx, accountID)
}

// AutoRecharge returns the account's auto-recharge setting.
func (s *Payments) AutoRecharge(ctx context.Context, accountID string) (wattfare.AutoRecharge, error) {
	var a wattfare.AutoRecharge
	var threshold, amount int64
	err := s.DB.QueryRow(ctx, `SELECT coalesce(ar.enabled, false), coalesce(ar.threshold, 0), coalesce(ar.amount, 0),
			coalesce(ar.disabled_reason, ''), coalesce(sc.payment_method_id, '') <> ''
		FROM accounts a LEFT JOIN auto_recharge ar ON ar.account_id = a.id LEFT JOIN stripe_customers sc ON sc.account_id = a.id
		WHERE a.id = $1`, accountID).Scan(&a.Enabled, &threshold, &amount, &a.DisabledReason, &a.CardSaved)
	if err != nil {
		return a, fmt.Errorf("read auto-recharge: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such account")))
	}
	a.Threshold, a.Amount = wattfare.Money(threshold), wattfare.Money(amount)
	return a, nil
}

// SetAutoRecharge turns auto-recharge on or off. The amount is a top-up's
// (within its bounds); the threshold is at most $1,000. Turning it on
// clears the reason it was last turned off for and arms it.
func (s *Payments) SetAutoRecharge(ctx context.Context, accountID string, enabled bool, threshold, amount wattfare.Money) (wattfare.AutoRecharge, error) {
	if enabled {
		if s.Provider == nil {
			return wattfare.AutoRecharge{}, errPaymentsOff()
		}
		lo, hi := s.bounds()
		if amount < lo || amount > hi || amount%wattfare.Cent != 0 {
			return wattfare.AutoRecharge{}, wattfare.InvalidField("amount", "a recharge is whole cents, at least %s and at most %s", lo, hi)
		}
		if threshold < 0 || threshold > 1000*wattfare.Dollar {
			return wattfare.AutoRecharge{}, wattfare.InvalidField("threshold", "the threshold is between 0 and 1000")
		}
	}
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if enabled {
			_, err := tx.Exec(ctx, `INSERT INTO auto_recharge (account_id, enabled, threshold, amount, armed, disabled_reason)
				VALUES ($1, true, $2, $3, true, '') ON CONFLICT (account_id) DO UPDATE
				SET enabled = true, threshold = $2, amount = $3, armed = true, disabled_reason = '', updated_at = now()`,
				accountID, threshold.Nanos(), amount.Nanos())
			if err != nil {
				return fmt.Errorf("set auto-recharge: %w", interpretError(err))
			}
		} else if _, err := tx.Exec(ctx, `UPDATE auto_recharge SET enabled = false, disabled_reason = '', updated_at = now() WHERE account_id = $1`, accountID); err != nil {
			return fmt.Errorf("set auto-recharge: %w", err)
		}
		return audit(ctx, tx, accountID, "auto_recharge.set", "account", accountID,
			map[string]any{"enabled": enabled, "threshold": threshold.String(), "amount": amount.String()})
	})
	if err != nil {
		return wattfare.AutoRecharge{}, err
	}
	return s.AutoRecharge(ctx, accountID)
}

// Reconcile compares, payment by payment, what the ledger credited for
// top-ups (less refunds it took back) with what Stripe collected (less
// refunds) since since, and lists every difference, with the verified
// events the ledger refused. Money a lost dispute took back is the
// dispute's, not a refund's, and is left out on both sides.
func (s *Payments) Reconcile(ctx context.Context, since time.Time) (wattfare.Reconciliation, error) {
	rec := wattfare.Reconciliation{CheckedAt: time.Now().UTC()}
	if s.Provider == nil {
		return rec, errPaymentsOff()
	}
	// Stripe's list starts a day early: a payment made just before since
	// may be credited after it.
	pays, err := s.Provider.Payments(ctx, since.Add(-24*time.Hour))
	if err != nil {
		s.log().Error("reconcile: list stripe payments", "err", err)
		return rec, wattfare.Errorf(wattfare.EUnavailable, "could not list Stripe's payments; try again")
	}
	type entry struct {
		accountID string
		pi        string
		net       wattfare.Money
		seen      bool
	}
	ledger := map[string]*entry{}
	byPI := map[string]string{}
	rows, err := s.DB.Query(ctx, `SELECT t.id, t.account_id, coalesce(t.payment_intent_id, ''),
			coalesce(sum(l.amount) FILTER (WHERE l.source IN ('top_up', 'refund')), 0)::bigint
		FROM top_ups t LEFT JOIN wallet_ledger l ON l.top_up_id = t.id
		WHERE t.credited_at >= $1 GROUP BY t.id`, since)
	if err != nil {
		return rec, fmt.Errorf("reconcile: ledger: %w", err)
	}
	for rows.Next() {
		var id, acct, pi string
		var net int64
		if err := rows.Scan(&id, &acct, &pi, &net); err != nil {
			rows.Close()
			return rec, fmt.Errorf("reconcile: ledger: %w", err)
		}
		ledger[id] = &entry{accountID: acct, pi: pi, net: wattfare.Money(net)}
		if pi != "" {
			byPI[pi] = id
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rec, fmt.Errorf("reconcile: ledger: %w", err)
	}
	for _, p := range pays {
		id := p.TopUpID
		if id == "" {
			id = byPI[p.PaymentIntentID]
		}
		e := ledger[id]
		if e == nil && p.Created.Before(since) {
			continue // before the window, and credited before it too
		}
		rec.Payments++
		if p.Currency != "usd" {
			rec.Lines = append(rec.Lines, wattfare.ReconciliationLine{TopUpID: id, ChargeID: p.ChargeID, Problem: "paid in " + strings.ToUpper(p.Currency) + ", not credited"})
			continue
		}
		stripeNet := p.Amount - p.Refunded
		rec.StripeNet += stripeNet
		if e == nil {
			problem := "paid in Stripe, not credited"
			if id == "" {
				problem = "paid in Stripe, names no Wattfare top-up"
			}
			rec.Lines = append(rec.Lines, wattfare.ReconciliationLine{TopUpID: id, ChargeID: p.ChargeID, Stripe: stripeNet, Problem: problem})
			continue
		}
		e.seen = true
		if e.net != stripeNet {
			rec.Lines = append(rec.Lines, wattfare.ReconciliationLine{TopUpID: id, ChargeID: p.ChargeID, AccountID: e.accountID,
				Ledger: e.net, Stripe: stripeNet, Problem: "the ledger and Stripe differ"})
		}
	}
	for id, e := range ledger {
		rec.LedgerNet += e.net
		if !e.seen && e.net != 0 {
			rec.Lines = append(rec.Lines, wattfare.ReconciliationLine{TopUpID: id, AccountID: e.accountID, Ledger: e.net, Problem: "credited, no Stripe payment"})
		}
	}
	slices.SortFunc(rec.Lines, func(a, b wattfare.ReconciliationLine) int {
		return strings.Compare(a.TopUpID+a.ChargeID, b.TopUpID+b.ChargeID)
	})
	evs, err := s.DB.Query(ctx, `SELECT id, type, coalesce(top_up_id, ''), outcome, received_at FROM stripe_events
		WHERE needs_admin AND received_at >= $1 ORDER BY received_at DESC LIMIT 200`, since)
	if err != nil {
		return rec, fmt.Errorf("reconcile: refused events: %w", err)
	}
	rec.RefusedEvents, err = pgx.CollectRows(evs, func(r pgx.CollectableRow) (wattfare.RefusedEvent, error) {
		var e wattfare.RefusedEvent
		return e, r.Scan(&e.EventID, &e.Type, &e.TopUpID, &e.Outcome, &e.ReceivedAt)
	})
	if err != nil {
		return rec, fmt.Errorf("reconcile: refused events: %w", err)
	}
	return rec, nil
}

var _ wattfare.LedgerExporter = (*Payments)(nil)

// ExportLedger streams the wallet's ledger entries and its requests'
// charges, oldest first.
func (s *Payments) ExportLedger(ctx context.Context, accountID string, mode wattfare.Mode, each func(wattfare.LedgerLine) error) error {
	rows, err := s.DB.Query(ctx, `
		SELECT created_at, source, description, amount, coalesce(top_up_id, ''), '' AS app, '' AS model
		FROM wallet_ledger WHERE account_id = $1 AND mode = $2
		UNION ALL
		SELECT u.created_at, 'usage', 'Request (' || u.status || ')', -u.charged, u.request_id, coalesce(a.name, ''), u.model
		FROM usage_events u LEFT JOIN apps a ON a.id = u.app_id
		WHERE u.account_id = $1 AND u.mode = $2 AND u.charged > 0
		ORDER BY 1, 5`, accountID, string(mode))
	if err != nil {
		return fmt.Errorf("export ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l wattfare.LedgerLine
		var amount int64
		if err := rows.Scan(&l.At, &l.Source, &l.Description, &amount, &l.Ref, &l.App, &l.Model); err != nil {
			return fmt.Errorf("export ledger: %w", err)
		}
		l.Amount = wattfare.Money(amount)
		if err := each(l); err != nil {
			return err
		}
	}
	return rows.Err()
}
