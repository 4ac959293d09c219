package invariants_test

import (
	"context"
	"sync"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// Live money in the randomized test: live users of an app funded by
// top-ups (their checkout.session.completed delivered several times at
// once, or as payment_intent.succeeded too), refunded in parts (each
// refund's charge.refunded redelivered, older ones late), disputed and won.
// Every step is followed by the invariants, whose wallet invariant allows
// credits - captured - held below zero only by what refunds and disputes
// took back; holdsBelowZero checks that no hold was ever placed on a
// wallet below zero.

// paidTopUp is a credited top-up the world may refund.
type paidTopUp struct {
	id       string
	user     *user
	amount   wattfare.Money
	refunded wattfare.Money
	events   int
}

// liveApp adds an app's live users: a live key and n live connections
// whose wallets hold only what the test's top-ups bring.
func (w *world) liveApp(n int) {
	ctx := context.Background()
	base := w.apps[0][0].Fixture
	base.Mode = wattfare.ModeLive
	_, secret, err := base.AddKey(ctx, w.c.pool)
	if err != nil {
		w.c.t.Fatal(err)
	}
	var us []*user
	for range n {
		u, err := base.NewUser(ctx, w.c.pool, w.capAmount(), 0)
		if err != nil {
			w.c.t.Fatal(err)
		}
		us = append(us, &user{Fixture: u, secret: secret})
	}
	w.apps = append(w.apps, us)
	w.pay = &postgres.Payments{DB: w.c.pool}
	// Every raise of a wallet's held (a hold) that leaves it below zero is
	// recorded: the ledger must never place one.
	for _, q := range []string{
		`CREATE TABLE test_holds_below_zero (account_id text, mode text, credits bigint, captured bigint, held bigint, at timestamptz DEFAULT now())`,
		`CREATE FUNCTION test_hold_below_zero() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN
		   IF NEW.held > OLD.held AND NEW.credits - NEW.captured - NEW.held < 0 THEN
		     INSERT INTO test_holds_below_zero (account_id, mode, credits, captured, held) VALUES (NEW.account_id, NEW.mode, NEW.credits, NEW.captured, NEW.held);
		   END IF;
		   RETURN NEW;
		 END $$`,
		`CREATE TRIGGER test_hold_below_zero BEFORE UPDATE ON wallets FOR EACH ROW EXECUTE FUNCTION test_hold_below_zero()`,
	} {
		if _, err := w.c.pool.Exec(ctx, q); err != nil {
			w.c.t.Fatal(err)
		}
	}
}

func (w *world) liveUsers() []*user {
	var out []*user
	for _, u := range w.activeUsers() {
		if u.Mode == wattfare.ModeLive {
			out = append(out, u)
		}
	}
	return out
}

// deliver applies ev n times at once, as Stripe's redeliveries may.
func (w *world) deliver(ev wattfare.PaymentEvent, n int) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.pay.Apply(context.Background(), ev)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			w.c.fatalf("apply %s %s: %v", ev.Type, ev.ID, err)
		}
	}
}

// topUp pays a $5–$50 top-up of a live user, its event delivered 1–4
// times at once, and sometimes its PaymentIntent's event as well; the
// wallet gains exactly the amount.
func (w *world) topUp() {
	users := w.liveUsers()
	if len(users) == 0 {
		return
	}
	u := users[w.rng.IntN(len(users))]
	amount := wattfare.Money(5+w.rng.IntN(46)) * wattfare.Dollar
	id := wattfare.NewID("tu_")
	ctx := context.Background()
	if _, err := w.c.pool.Exec(ctx, `INSERT INTO top_ups (id, account_id, amount) VALUES ($1, $2, $3)`, id, u.AccountID, int64(amount)); err != nil {
		w.c.t.Fatal(err)
	}
	before := w.liveCredits(u)
	ev := wattfare.PaymentEvent{ID: "evt_" + id, Type: wattfare.EventCheckoutCompleted, TopUpID: id, CheckoutSessionID: "cs_" + id,
		PaymentIntentID: "pi_" + id, Currency: "usd", Amount: amount, PaymentStatus: "paid"}
	w.deliver(ev, 1+w.rng.IntN(4))
	if w.rng.IntN(2) == 0 {
		w.deliver(wattfare.PaymentEvent{ID: "evt_pi_" + id, Type: wattfare.EventPaymentIntentSucceeded, TopUpID: id,
			PaymentIntentID: "pi_" + id, Currency: "usd", Amount: amount}, 1+w.rng.IntN(2))
	}
	if got := w.liveCredits(u) - before; got != amount {
		w.c.fatalf("top-up %s of %s credited %s", id, amount, got)
	}
	w.topUps = append(w.topUps, &paidTopUp{id: id, user: u, amount: amount})
}

// refund refunds part or all of the rest of a paid top-up, the event
// delivered 1–3 times at once and sometimes an older refund's event again
// afterwards; the wallet loses exactly the newly refunded amount, even
// below zero when it was spent.
func (w *world) refund() {
	var open []*paidTopUp
	for _, t := range w.topUps {
		if t.refunded < t.amount {
			open = append(open, t)
		}
	}
	if len(open) == 0 {
		return
	}
	t := open[w.rng.IntN(len(open))]
	rest := int64((t.amount - t.refunded) / wattfare.Cent)
	part := wattfare.Money(1+w.rng.Int64N(rest)) * wattfare.Cent
	if w.rng.IntN(3) == 0 {
		part = t.amount - t.refunded
	}
	before := w.liveCredits(t.user)
	older := t.refunded
	t.refunded += part
	t.events++
	ev := func(cum wattfare.Money) wattfare.PaymentEvent {
		return wattfare.PaymentEvent{ID: "evt_r_" + t.id + "_" + cum.String(), Type: wattfare.EventChargeRefunded, PaymentIntentID: "pi_" + t.id,
			ChargeID: "ch_" + t.id, Currency: "usd", Amount: t.amount, AmountRefunded: cum}
	}
	w.deliver(ev(t.refunded), 1+w.rng.IntN(3))
	if older > 0 && w.rng.IntN(2) == 0 {
		late := ev(older)
		late.ID += "_late"
		w.deliver(late, 1)
	}
	if got := before - w.liveCredits(t.user); got != part {
		w.c.fatalf("refund of %s on top-up %s took back %s", part, t.id, got)
	}
}

// dispute opens a dispute on a paid top-up (the wallet freezes: its
// requests are refused), runs a burst, and closes it won (the wallet thaws
// with nothing taken).
func (w *world) dispute() {
	if len(w.topUps) == 0 {
		return
	}
	t := w.topUps[w.rng.IntN(len(w.topUps))]
	before := w.liveCredits(t.user)
	mk := func(typ, status string) wattfare.PaymentEvent {
		return wattfare.PaymentEvent{ID: "evt_d_" + t.id + "_" + status, Type: typ, PaymentIntentID: "pi_" + t.id, ChargeID: "ch_" + t.id,
			DisputeID: "dp_" + t.id + "_" + wattfare.NewID("")[:6], DisputeStatus: status, Currency: "usd", Amount: t.amount}
	}
	open := mk(wattfare.EventDisputeCreated, "needs_response")
	w.deliver(open, 1+w.rng.IntN(2))
	w.burst()
	won := mk(wattfare.EventDisputeClosed, "won")
	won.DisputeID = open.DisputeID
	w.deliver(won, 1+w.rng.IntN(2))
	var frozen bool
	w.c.pool.QueryRow(context.Background(), `SELECT frozen_at IS NOT NULL FROM wallets WHERE account_id = $1 AND mode = 'live'`, t.user.AccountID).Scan(&frozen)
	if frozen || w.liveCredits(t.user) != before {
		w.c.fatalf("after a won dispute on %s: frozen %v, credits %s (was %s)", t.id, frozen, w.liveCredits(t.user), before)
	}
}

func (w *world) liveCredits(u *user) wattfare.Money {
	var c int64
	if err := w.c.pool.QueryRow(context.Background(), `SELECT credits FROM wallets WHERE account_id = $1 AND mode = 'live'`, u.AccountID).Scan(&c); err != nil {
		w.c.t.Fatal(err)
	}
	return wattfare.Money(c)
}

// holdsBelowZero fails the test if the ledger ever placed a hold on a
// wallet below zero (or one that took it below zero).
func (w *world) holdsBelowZero(step string) {
	if w.pay == nil {
		return
	}
	var n int
	var example string
	w.c.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(format('%s/%s credits %s captured %s held %s', account_id, mode, credits, captured, held)), '')
		FROM test_holds_below_zero`).Scan(&n, &example)
	if n > 0 {
		w.c.fatalf("after %s: %d holds placed on a wallet below zero, e.g. %s", step, n, example)
	}
}
