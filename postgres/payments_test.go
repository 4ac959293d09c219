package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// payer is a live account with one connection (cap $100) and an empty live
// wallet, made directly in the tables.
type payer struct {
	t       *testing.T
	ctx     context.Context
	db      *pgxpool.Pool
	pay     *postgres.Payments
	ledger  *postgres.Ledger
	account string
	conn    string
	key     string
	app     string
}

func newPayer(t *testing.T) *payer {
	t.Helper()
	t.Parallel()
	db := pgtest.NewPool(t)
	p := &payer{t: t, ctx: context.Background(), db: db, pay: &postgres.Payments{DB: db}, ledger: postgres.NewLedger(db),
		account: wattfare.NewID("acct_"), conn: wattfare.NewID("conn_"), app: wattfare.NewAppID().String()}
	sk := wattfare.NewSecretKey(wattfare.ModeLive)
	p.key = sk.ID.String()
	hash := wattfare.HashSecretKey(sk.String())
	p.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ($1, $1 || '@example.com', 'x')`, p.account)
	p.exec(`INSERT INTO wallets (account_id, mode) VALUES ($1, 'live')`, p.account)
	p.exec(`INSERT INTO apps (id, owner_id, name) VALUES ($1, $2, 'Payer App')`, p.app, p.account)
	p.exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'live', $3, $4, 'fixt')`,
		p.key, p.app, hash[:], []byte(sk.PublicKey()))
	p.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'live', 'u1', $3, $4)`,
		p.conn, p.app, p.account, int64(100*wattfare.Dollar))
	return p
}

func (p *payer) exec(sql string, args ...any) {
	p.t.Helper()
	if _, err := p.db.Exec(p.ctx, sql, args...); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// topUp makes a pending checkout top-up of amount, as StartTopUp leaves it.
func (p *payer) topUp(amount wattfare.Money) string {
	id := wattfare.NewID("tu_")
	p.exec(`INSERT INTO top_ups (id, account_id, amount, checkout_session_id) VALUES ($1, $2, $3, 'cs_' || $1)`, id, p.account, amount.Nanos())
	return id
}

func (p *payer) apply(ev wattfare.PaymentEvent) wattfare.PaymentOutcome {
	p.t.Helper()
	out, err := p.pay.Apply(p.ctx, ev)
	if err != nil {
		p.t.Fatalf("apply %s %s: %v", ev.Type, ev.ID, err)
	}
	return out
}

// wallet is the live wallet: credits (net of take-backs), taken back,
// captured, held, and whether it is frozen.
type walletRow struct {
	Credits, TakenBack, Captured, Held wattfare.Money
	Frozen                             bool
}

func (w walletRow) available() wattfare.Money { return w.Credits - w.Captured - w.Held }

func (p *payer) wallet() walletRow {
	p.t.Helper()
	var c, tb, cap, h int64
	var w walletRow
	if err := p.db.QueryRow(p.ctx, `SELECT credits, taken_back, captured, held, frozen_at IS NOT NULL FROM wallets
		WHERE account_id = $1 AND mode = 'live'`, p.account).Scan(&c, &tb, &cap, &h, &w.Frozen); err != nil {
		p.t.Fatal(err)
	}
	w.Credits, w.TakenBack, w.Captured, w.Held = wattfare.Money(c), wattfare.Money(tb), wattfare.Money(cap), wattfare.Money(h)
	return w
}

func (p *payer) status(topUp string) wattfare.TopUpStatus {
	p.t.Helper()
	tu, err := p.pay.TopUp(p.ctx, p.account, topUp)
	if err != nil {
		p.t.Fatal(err)
	}
	return tu.Status
}

// spend captures amount from the live wallet as a request would: a lease,
// then a settlement charged from it.
func (p *payer) spend(amount wattfare.Money) {
	p.t.Helper()
	lease := wattfare.NewID("lease_")
	g, err := p.ledger.GrantLease(p.ctx, wattfare.LeaseRequest{LeaseID: lease, ProcessID: "proc_test", ConnectionID: p.conn, KeyID: p.key,
		Period: wattfare.PeriodStart(time.Now()), Amount: amount, Need: amount, Min: amount, TTL: time.Minute})
	if err != nil || g.Reason != "" {
		p.t.Fatalf("grant %s: %+v %v", amount, g, err)
	}
	err = p.ledger.Commit(p.ctx, []wattfare.Settlement{{RequestID: wattfare.NewID("req_"), At: time.Now(), LeaseID: lease, FromLease: amount,
		ConnectionID: p.conn, AccountID: p.account, AppID: p.app, AppUserID: "u1", KeyID: p.key, Mode: wattfare.ModeLive,
		Usage: wattfare.Usage{Model: "sandbox/echo", Status: "ok", Cost: amount}}}, []string{lease})
	if err != nil {
		p.t.Fatal(err)
	}
}

// grant asks the ledger for a lease and returns its refusal reason ("" when granted).
func (p *payer) grant(amount wattfare.Money) string {
	p.t.Helper()
	g, err := p.ledger.GrantLease(p.ctx, wattfare.LeaseRequest{LeaseID: wattfare.NewID("lease_"), ProcessID: "proc_test", ConnectionID: p.conn,
		KeyID: p.key, Period: wattfare.PeriodStart(time.Now()), Amount: amount, Need: amount, Min: amount, TTL: time.Minute})
	if err != nil {
		p.t.Fatal(err)
	}
	return g.Reason
}

func paid(id, topUp string, amount wattfare.Money) wattfare.PaymentEvent {
	return wattfare.PaymentEvent{ID: id, Type: wattfare.EventCheckoutCompleted, Created: time.Now(), TopUpID: topUp,
		CheckoutSessionID: "cs_" + topUp, PaymentIntentID: "pi_" + topUp, Currency: "usd", Amount: amount,
		MinorAmount: int64(amount / wattfare.Cent), PaymentStatus: "paid"}
}

func refunded(id, topUp string, amount, cumulative wattfare.Money) wattfare.PaymentEvent {
	return wattfare.PaymentEvent{ID: id, Type: wattfare.EventChargeRefunded, Created: time.Now(), PaymentIntentID: "pi_" + topUp,
		ChargeID: "ch_" + topUp, Currency: "usd", Amount: amount, AmountRefunded: cumulative,
		ReceiptURL: "https://pay.stripe.com/receipts/ch_" + topUp}
}

func dispute(id, typ, topUp string, amount wattfare.Money, status string) wattfare.PaymentEvent {
	return wattfare.PaymentEvent{ID: id, Type: typ, Created: time.Now(), PaymentIntentID: "pi_" + topUp, ChargeID: "ch_" + topUp,
		DisputeID: "dp_" + topUp, DisputeStatus: status, Currency: "usd", Amount: amount}
}

// Ten deliveries of one checkout.session.completed at once, and three more
// events of other ids that report the same payment, credit $10 once.
func TestTopUpCreditedOnceUnderConcurrentRedelivery(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	var wg sync.WaitGroup
	outs := make([]wattfare.PaymentOutcome, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = p.pay.Apply(p.ctx, paid("evt_same", tu, 10*wattfare.Dollar))
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range 10 {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if !outs[i].Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d deliveries applied, want 1", fresh)
	}
	// The same payment reported by its other events (new event ids).
	p.apply(wattfare.PaymentEvent{ID: "evt_pi", Type: wattfare.EventPaymentIntentSucceeded, TopUpID: tu, PaymentIntentID: "pi_" + tu,
		Currency: "usd", Amount: 10 * wattfare.Dollar})
	p.apply(wattfare.PaymentEvent{ID: "evt_async", Type: wattfare.EventCheckoutAsyncSucceeded, TopUpID: tu, CheckoutSessionID: "cs_" + tu,
		Currency: "usd", Amount: 10 * wattfare.Dollar})
	if w := p.wallet(); w.Credits != 10*wattfare.Dollar {
		t.Fatalf("credits %s after 12 deliveries of one payment, want 10.00", w.Credits)
	}
	var n int
	p.db.QueryRow(p.ctx, `SELECT count(*) FROM wallet_ledger WHERE top_up_id = $1 AND source = 'top_up'`, tu).Scan(&n)
	if n != 1 {
		t.Fatalf("%d top_up ledger entries, want 1", n)
	}
	if s := p.status(tu); s != wattfare.TopUpSucceeded {
		t.Fatalf("status %s, want succeeded", s)
	}
}

// A partial refund of $4 delivered twice (and once more under another
// event id, as Stripe's cumulative amount_refunded) takes back $4; an older
// event arriving after a later one changes nothing; the full refund takes
// back the rest.
func TestPartialRefundTakesBackOnce(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_paid", tu, 10*wattfare.Dollar))
	p.apply(refunded("evt_r1", tu, 10*wattfare.Dollar, 4*wattfare.Dollar))
	if out := p.apply(refunded("evt_r1", tu, 10*wattfare.Dollar, 4*wattfare.Dollar)); !out.Duplicate {
		t.Fatalf("second delivery of evt_r1: %+v, want duplicate", out)
	}
	p.apply(refunded("evt_r1_again", tu, 10*wattfare.Dollar, 4*wattfare.Dollar))
	w := p.wallet()
	if w.Credits != 6*wattfare.Dollar || w.TakenBack != 4*wattfare.Dollar {
		t.Fatalf("after a $4 refund: credits %s taken back %s, want 6.00 and 4.00", w.Credits, w.TakenBack)
	}
	if s := p.status(tu); s != wattfare.TopUpPartiallyRefunded {
		t.Fatalf("status %s", s)
	}
	p.apply(refunded("evt_r2", tu, 10*wattfare.Dollar, 10*wattfare.Dollar))
	p.apply(refunded("evt_r_old", tu, 10*wattfare.Dollar, 1*wattfare.Dollar)) // older, delivered late
	if w := p.wallet(); w.Credits != 0 || w.TakenBack != 10*wattfare.Dollar {
		t.Fatalf("after the full refund: %+v", w)
	}
	if s := p.status(tu); s != wattfare.TopUpRefunded {
		t.Fatalf("status %s", s)
	}
	tuRow, _ := p.pay.TopUp(p.ctx, p.account, tu)
	if tuRow.ReceiptURL == "" {
		t.Fatal("no receipt URL recorded from the charge")
	}
	var entries []int64
	rows, _ := p.db.Query(p.ctx, `SELECT amount FROM wallet_ledger WHERE top_up_id = $1 AND source = 'refund' ORDER BY id`, tu)
	for rows.Next() {
		var a int64
		rows.Scan(&a)
		entries = append(entries, a)
	}
	if len(entries) != 2 || entries[0] != -int64(4*wattfare.Dollar) || entries[1] != -int64(6*wattfare.Dollar) {
		t.Fatalf("refund entries %v, want -4.00 then -6.00", entries)
	}
}

// Money refunded after it was spent takes the wallet below zero: what was
// captured stays captured, and the ledger grants no new hold until a
// top-up brings the wallet above zero again.
func TestRefundAfterSpendLeavesWalletNegative(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_paid", tu, 10*wattfare.Dollar))
	p.spend(8 * wattfare.Dollar)
	p.apply(refunded("evt_refund", tu, 10*wattfare.Dollar, 10*wattfare.Dollar))
	w := p.wallet()
	if w.available() != -8*wattfare.Dollar || w.Captured != 8*wattfare.Dollar {
		t.Fatalf("after refunding spent money: available %s captured %s, want -8.00 and 8.00", w.available(), w.Captured)
	}
	if r := p.grant(wattfare.Cent); r != wattfare.EBudgetExhausted {
		t.Fatalf("a hold on a wallet below zero: reason %q, want budget_exhausted", r)
	}
	// $5 more is still below zero; $10 more is above.
	tu2 := p.topUp(5 * wattfare.Dollar)
	p.apply(paid("evt_paid2", tu2, 5*wattfare.Dollar))
	if r := p.grant(wattfare.Cent); r != wattfare.EBudgetExhausted {
		t.Fatalf("at -3.00: reason %q, want budget_exhausted", r)
	}
	tu3 := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_paid3", tu3, 10*wattfare.Dollar))
	if r := p.grant(wattfare.Dollar); r != "" {
		t.Fatalf("at 7.00: reason %q, want a grant", r)
	}
}

// A dispute freezes the live wallet (the ledger answers wallet_frozen, to
// grants and to the data plane's re-checks); a won dispute unfreezes it
// with nothing taken; a lost one takes the disputed amount back.
func TestDisputeFreezesAndWonUnfreezes(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(20 * wattfare.Dollar)
	p.apply(paid("evt_paid", tu, 20*wattfare.Dollar))
	p.apply(dispute("evt_d1", wattfare.EventDisputeCreated, tu, 20*wattfare.Dollar, "needs_response"))
	if !p.wallet().Frozen {
		t.Fatal("a dispute did not freeze the wallet")
	}
	if r := p.grant(wattfare.Dollar); r != wattfare.ReasonWalletFrozen {
		t.Fatalf("grant on a frozen wallet: %q", r)
	}
	st, err := p.ledger.CheckPayers(p.ctx, []wattfare.PayerCheck{{ConnectionID: p.conn}})
	if err != nil || st[0].Reason != wattfare.ReasonWalletFrozen {
		t.Fatalf("check payers: %+v %v", st, err)
	}
	if s := p.status(tu); s != wattfare.TopUpDisputed {
		t.Fatalf("status %s", s)
	}
	p.apply(dispute("evt_d2", wattfare.EventDisputeUpdated, tu, 20*wattfare.Dollar, "under_review"))
	p.apply(dispute("evt_d3", wattfare.EventDisputeClosed, tu, 20*wattfare.Dollar, "won"))
	w := p.wallet()
	if w.Frozen || w.Credits != 20*wattfare.Dollar {
		t.Fatalf("after a won dispute: %+v", w)
	}
	if r := p.grant(wattfare.Dollar); r != "" {
		t.Fatalf("grant after a won dispute: %q", r)
	}
	// An update of the closed dispute delivered late does not reopen it.
	p.apply(dispute("evt_d2_late", wattfare.EventDisputeUpdated, tu, 20*wattfare.Dollar, "under_review"))
	if p.wallet().Frozen {
		t.Fatal("a late update re-froze the wallet")
	}

	tu2 := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_paid2", tu2, 10*wattfare.Dollar))
	p.apply(dispute("evt_e1", wattfare.EventDisputeCreated, tu2, 10*wattfare.Dollar, "needs_response"))
	p.apply(dispute("evt_e2", wattfare.EventDisputeClosed, tu2, 10*wattfare.Dollar, "lost"))
	p.apply(dispute("evt_e2_again", wattfare.EventDisputeClosed, tu2, 10*wattfare.Dollar, "lost"))
	w = p.wallet()
	if w.Frozen || w.TakenBack != 10*wattfare.Dollar || w.Credits+w.TakenBack != 30*wattfare.Dollar-w.Captured+w.Captured {
		t.Fatalf("after a lost dispute: %+v, want $10 taken back once and the wallet unfrozen", w)
	}
}

// Stripe may deliver a payment's events in any order: a refund or a
// dispute that arrives before checkout.session.completed waits for it and
// is applied with it, and a dispute closed before it was created never
// freezes the wallet.
func TestEventsInAnyOrder(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	out := p.apply(refunded("evt_refund_first", tu, 10*wattfare.Dollar, 3*wattfare.Dollar))
	if w := p.wallet(); w.Credits != 0 || w.TakenBack != 0 {
		t.Fatalf("a refund before the payment changed the wallet: %+v (%s)", w, out.Outcome)
	}
	p.apply(dispute("evt_closed_first", wattfare.EventDisputeClosed, tu, 10*wattfare.Dollar, "won"))
	p.apply(paid("evt_paid", tu, 10*wattfare.Dollar))
	p.apply(dispute("evt_created_late", wattfare.EventDisputeCreated, tu, 10*wattfare.Dollar, "needs_response"))
	w := p.wallet()
	if w.Credits != 7*wattfare.Dollar || w.TakenBack != 3*wattfare.Dollar || w.Frozen {
		t.Fatalf("after paid, refund and a won dispute in reverse order: %+v, want credits 7.00, taken back 3.00, not frozen", w)
	}
	var waiting int
	p.db.QueryRow(p.ctx, `SELECT count(*) FROM stripe_events WHERE waiting`).Scan(&waiting)
	if waiting != 0 {
		t.Fatalf("%d events still waiting", waiting)
	}
}

// A payment in another currency, or of another amount than its top-up,
// credits nothing and is kept for an admin; an event Wattfare does not act
// on, or about another product's payment, changes nothing.
func TestRefusedAndIgnoredEvents(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	eur := paid("evt_eur", tu, 0)
	eur.Currency, eur.MinorAmount = "eur", 1000
	p.apply(eur)
	tu2 := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_short", tu2, 1*wattfare.Dollar))
	p.apply(wattfare.PaymentEvent{ID: "evt_other", Type: "customer.created"})
	p.apply(wattfare.PaymentEvent{ID: "evt_foreign", Type: wattfare.EventPaymentIntentSucceeded, PaymentIntentID: "pi_not_ours", Currency: "usd", Amount: wattfare.Dollar})
	p.apply(wattfare.PaymentEvent{ID: "evt_bogus", Type: wattfare.EventCheckoutCompleted, TopUpID: "tu_doesnotexist", Currency: "usd", Amount: wattfare.Dollar, PaymentStatus: "paid"})
	if w := p.wallet(); w.Credits != 0 {
		t.Fatalf("credits %s, want 0", w.Credits)
	}
	if s := p.status(tu); s != wattfare.TopUpFailed {
		t.Fatalf("EUR top-up status %s, want failed", s)
	}
	var admin []string
	rows, _ := p.db.Query(p.ctx, `SELECT id FROM stripe_events WHERE needs_admin ORDER BY id`)
	for rows.Next() {
		var id string
		rows.Scan(&id)
		admin = append(admin, id)
	}
	if len(admin) != 3 || admin[0] != "evt_bogus" || admin[1] != "evt_eur" || admin[2] != "evt_short" {
		t.Fatalf("events for an admin: %v, want evt_bogus, evt_eur, evt_short", admin)
	}
}

// The ledger is append-only: an entry cannot be changed or removed.
func TestLedgerIsAppendOnly(t *testing.T) {
	p := newPayer(t)
	tu := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_paid", tu, 10*wattfare.Dollar))
	if _, err := p.db.Exec(p.ctx, `UPDATE wallet_ledger SET amount = amount * 2 WHERE top_up_id = $1`, tu); err == nil {
		t.Fatal("a ledger entry was changed")
	}
	if _, err := p.db.Exec(p.ctx, `DELETE FROM wallet_ledger WHERE top_up_id = $1`, tu); err == nil {
		t.Fatal("a ledger entry was deleted")
	}
}

// An admin grant credits the live wallet with its reason and is audited;
// bad amounts and empty reasons are refused with the field named.
func TestGrantCredit(t *testing.T) {
	p := newPayer(t)
	w, err := p.pay.Grant(p.ctx, "acct_admin", p.account, 15*wattfare.Dollar, "  support: outage credit ")
	if err != nil || w.Credits != 15*wattfare.Dollar {
		t.Fatalf("grant: %+v %v", w, err)
	}
	var desc, actor string
	p.db.QueryRow(p.ctx, `SELECT description, actor_id FROM wallet_ledger WHERE account_id = $1 AND source = 'grant'`, p.account).Scan(&desc, &actor)
	if desc != "support: outage credit" || actor != "acct_admin" {
		t.Fatalf("ledger entry %q by %q", desc, actor)
	}
	var audited int
	p.db.QueryRow(p.ctx, `SELECT count(*) FROM audit_log WHERE action = 'wallet.grant' AND actor_id = 'acct_admin'`).Scan(&audited)
	if audited != 1 {
		t.Fatalf("%d audit rows", audited)
	}
	for _, c := range []struct {
		amount wattfare.Money
		reason string
		field  string
	}{{0, "x", "amount"}, {-wattfare.Dollar, "x", "amount"}, {postgres.MaxGrant + 1, "x", "amount"}, {wattfare.Dollar, "   ", "reason"}} {
		_, err := p.pay.Grant(p.ctx, "acct_admin", p.account, c.amount, c.reason)
		var we *wattfare.Error
		if !asErr(err, &we) || we.Code != wattfare.EINVALID || we.Field != c.field {
			t.Errorf("grant %s %q: %v, want INVALID_INPUT on %s", c.amount, c.reason, err, c.field)
		}
	}
	if _, err := p.pay.Grant(p.ctx, "acct_admin", "acct_nobody", wattfare.Dollar, "x"); wattfare.ErrorCode(err) != wattfare.ENOTFOUND {
		t.Errorf("grant to no account: %v", err)
	}
	if w := p.wallet(); w.Credits != 15*wattfare.Dollar {
		t.Fatalf("refused grants changed the wallet: %+v", w)
	}
}

func asErr(err error, target **wattfare.Error) bool { return errors.As(err, target) }

// stripeList is a PaymentProvider whose only answer is its list of
// payments (the reconciliation's comparison, without Stripe's fixtures).
type stripeList struct {
	wattfare.PaymentProvider
	pays []wattfare.StripePayment
}

func (s stripeList) Payments(context.Context, time.Time) ([]wattfare.StripePayment, error) {
	return s.pays, nil
}

// The reconciliation lists each payment on which the ledger (credited less
// refunds taken back) and Stripe (paid less refunded) differ, and nothing
// where they agree.
func TestReconcile(t *testing.T) {
	p := newPayer(t)
	agree, short, missing := p.topUp(10*wattfare.Dollar), p.topUp(20*wattfare.Dollar), p.topUp(5*wattfare.Dollar)
	p.apply(paid("evt_a", agree, 10*wattfare.Dollar))
	p.apply(refunded("evt_ar", agree, 10*wattfare.Dollar, 2*wattfare.Dollar))
	p.apply(paid("evt_s", short, 20*wattfare.Dollar))
	p.apply(paid("evt_m", missing, 5*wattfare.Dollar))
	now := time.Now()
	p.pay.Provider = stripeList{pays: []wattfare.StripePayment{
		{ChargeID: "ch_a", PaymentIntentID: "pi_" + agree, Currency: "usd", Amount: 10 * wattfare.Dollar, Refunded: 2 * wattfare.Dollar, Created: now},
		// Refunded $5 in Stripe; the ledger never heard of it.
		{ChargeID: "ch_s", TopUpID: short, Currency: "usd", Amount: 20 * wattfare.Dollar, Refunded: 5 * wattfare.Dollar, Created: now},
		{ChargeID: "ch_x", Currency: "usd", Amount: 7 * wattfare.Dollar, Created: now},
		{ChargeID: "ch_old", Currency: "usd", Amount: 9 * wattfare.Dollar, Created: now.Add(-48 * time.Hour)},
	}}
	rec, err := p.pay.Reconcile(p.ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]wattfare.ReconciliationLine{
		short:   {TopUpID: short, ChargeID: "ch_s", AccountID: p.account, Ledger: 20 * wattfare.Dollar, Stripe: 15 * wattfare.Dollar, Problem: "the ledger and Stripe differ"},
		"":      {ChargeID: "ch_x", Stripe: 7 * wattfare.Dollar, Problem: "paid in Stripe, names no Wattfare top-up"},
		missing: {TopUpID: missing, AccountID: p.account, Ledger: 5 * wattfare.Dollar, Problem: "credited, no Stripe payment"},
	}
	if len(rec.Lines) != len(want) {
		t.Fatalf("lines %+v, want %d", rec.Lines, len(want))
	}
	for _, l := range rec.Lines {
		if l != want[l.TopUpID] {
			t.Errorf("line %+v, want %+v", l, want[l.TopUpID])
		}
	}
	if rec.Payments != 3 || rec.LedgerNet != 33*wattfare.Dollar || rec.StripeNet != 30*wattfare.Dollar {
		t.Errorf("totals: %d payments, ledger %s, stripe %s", rec.Payments, rec.LedgerNet, rec.StripeNet)
	}
}

// A Checkout paid by an asynchronous method completes unpaid: nothing is
// credited until checkout.session.async_payment_succeeded; a failed one
// (async_payment_failed) marks the top-up failed and credits nothing; so
// does an expired checkout.
func TestAsyncPaymentCreditsOnlyWhenItSucceeds(t *testing.T) {
	p := newPayer(t)
	ok, bad := p.topUp(10*wattfare.Dollar), p.topUp(20*wattfare.Dollar)
	for _, tu := range []string{ok, bad} {
		ev := paid("evt_unpaid_"+tu, tu, 0)
		ev.PaymentStatus, ev.Amount = "unpaid", 0
		p.apply(ev)
	}
	if w := p.wallet(); w.Credits != 0 || p.status(ok) != wattfare.TopUpPending {
		t.Fatalf("an unpaid checkout credited %s (status %s)", w.Credits, p.status(ok))
	}
	async := paid("evt_async_"+ok, ok, 10*wattfare.Dollar)
	async.Type = wattfare.EventCheckoutAsyncSucceeded
	p.apply(async)
	failed := paid("evt_fail_"+bad, bad, 20*wattfare.Dollar)
	failed.Type, failed.PaymentStatus = wattfare.EventCheckoutAsyncFailed, "unpaid"
	p.apply(failed)
	if w := p.wallet(); w.Credits != 10*wattfare.Dollar {
		t.Fatalf("credits %s, want the succeeded 10.00 only", w.Credits)
	}
	if p.status(ok) != wattfare.TopUpSucceeded || p.status(bad) != wattfare.TopUpFailed {
		t.Fatalf("statuses %s and %s", p.status(ok), p.status(bad))
	}
	// A checkout left unpaid expires (checkout.session.expired): failed,
	// and a late paid event for it still credits (Stripe's word wins).
	late := p.topUp(5 * wattfare.Dollar)
	p.apply(wattfare.PaymentEvent{ID: "evt_exp_" + late, Type: wattfare.EventCheckoutExpired, TopUpID: late, CheckoutSessionID: "cs_" + late})
	if tu, _ := p.pay.TopUp(p.ctx, p.account, late); tu.Status != wattfare.TopUpFailed || tu.Failure == "" {
		t.Fatalf("expired checkout: %+v", tu)
	}
	p.apply(paid("evt_late_"+late, late, 5*wattfare.Dollar))
	if w := p.wallet(); w.Credits != 15*wattfare.Dollar || p.status(late) != wattfare.TopUpSucceeded {
		t.Fatalf("a paid event after the expiry: credits %s, status %s", w.Credits, p.status(late))
	}
}
