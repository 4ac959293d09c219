package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/stripemock"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/stripe"
)

// stripeCounter is stripe-mock behind a proxy that records the
// Idempotency-Key of every PaymentIntent Wattfare creates.
type stripeCounter struct {
	mu   sync.Mutex
	keys []string
}

func (c *stripeCounter) intents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.keys...)
}

func countingStripe(t *testing.T) (*stripe.Client, *stripeCounter) {
	t.Helper()
	u, _ := url.Parse(stripemock.Start(t))
	c := &stripeCounter{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents" {
			c.mu.Lock()
			c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
			c.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	sc, err := stripe.New(stripe.Config{SecretKey: "sk_test_recharge", APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return sc, c
}

// runJobs runs a jobs client with the auto-recharge charge worker.
func runJobs(t *testing.T, p *payer, declined func(error) bool) *jobs.Client {
	t.Helper()
	reg := jobs.NewRegistry()
	jobs.Add(reg, &postgres.RechargeChargeWorker{Payments: p.pay, Declined: declined})
	c, err := jobs.New(p.db, reg, jobs.Options{FetchPollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("jobs: %v", err)
		}
	})
	return c
}

func (p *payer) enableAutoRecharge(threshold, amount wattfare.Money) {
	p.t.Helper()
	p.exec(`INSERT INTO stripe_customers (account_id, customer_id, payment_method_id) VALUES ($1, 'cus_' || $1, 'pm_card_visa')`, p.account)
	if _, err := p.pay.SetAutoRecharge(p.ctx, p.account, true, threshold, amount); err != nil {
		p.t.Fatal(err)
	}
}

// awaitCharges waits until the jobs of every auto-recharge top-up are
// finalized and returns the top-ups, oldest first.
func (p *payer) awaitCharges(c *jobs.Client) []wattfare.TopUp {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	rows, err := p.db.Query(ctx, `SELECT id FROM river_job WHERE kind = $1`, wattfare.AutoRechargeCharge{}.Kind())
	if err != nil {
		p.t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := jobs.Await(ctx, c, id); err != nil {
			p.t.Fatalf("job %d: %v", id, err)
		}
	}
	page, err := p.pay.TopUps(p.ctx, p.account, wattfare.Page{First: 100})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []wattfare.TopUp
	for i := len(page.Items) - 1; i >= 0; i-- {
		if page.Items[i].Source == wattfare.TopUpAutoRecharge {
			out = append(out, page.Items[i])
		}
	}
	return out
}

// A burst of settlements that takes the wallet under its threshold, with
// scans running at once, makes one auto-recharge charge, keyed on the
// crossing; its webhook credits it; only the next crossing charges again.
func TestAutoRechargeBurstMakesOneCharge(t *testing.T) {
	p := newPayer(t)
	sc, counter := countingStripe(t)
	p.pay.Provider = sc
	c := runJobs(t, p, nil)
	p.enableAutoRecharge(5*wattfare.Dollar, 20*wattfare.Dollar)
	tu := p.topUp(10 * wattfare.Dollar)
	p.apply(paid("evt_first", tu, 10*wattfare.Dollar))

	// Ten settlements of $0.60 at once (the wallet falls to $4.00) while
	// five scans run beside them.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); p.spend(60 * wattfare.Cent) }()
	}
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				if _, err := p.pay.ScanAutoRecharge(p.ctx, c); err != nil {
					errs <- err
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if _, err := p.pay.ScanAutoRecharge(p.ctx, c); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatalf("scan: %v", err)
	}
	if w := p.wallet(); w.available() != 4*wattfare.Dollar {
		t.Fatalf("available %s after the burst, want 4.00", w.available())
	}
	charges := p.awaitCharges(c)
	first := fmt.Sprintf("wattfare-recharge-%s-1", p.account)
	if keys := counter.intents(); len(charges) != 1 || len(keys) != 1 || keys[0] != first {
		t.Fatalf("%d auto-recharge top-ups and PaymentIntents %q after one crossing, want one keyed %s", len(charges), keys, first)
	}
	if charges[0].Amount != 20*wattfare.Dollar || charges[0].Status != wattfare.TopUpPending {
		t.Fatalf("recharge top-up %+v", charges[0])
	}
	// Still under the threshold until the webhook lands: no second charge.
	p.pay.ScanAutoRecharge(p.ctx, c)
	var pi string
	p.db.QueryRow(p.ctx, `SELECT payment_intent_id FROM top_ups WHERE id = $1`, charges[0].ID).Scan(&pi)
	p.apply(wattfare.PaymentEvent{ID: "evt_recharge_1", Type: wattfare.EventPaymentIntentSucceeded, TopUpID: charges[0].ID,
		PaymentIntentID: pi, Currency: "usd", Amount: 20 * wattfare.Dollar})
	if w := p.wallet(); w.available() != 24*wattfare.Dollar {
		t.Fatalf("available %s after the recharge's webhook, want 24.00", w.available())
	}
	p.pay.ScanAutoRecharge(p.ctx, c) // re-arms: over the threshold
	if n := len(counter.intents()); n != 1 {
		t.Fatalf("%d charges before the second crossing", n)
	}
	p.spend(20 * wattfare.Dollar)
	p.pay.ScanAutoRecharge(p.ctx, c)
	p.pay.ScanAutoRecharge(p.ctx, c)
	charges = p.awaitCharges(c)
	if keys := counter.intents(); len(charges) != 2 || len(keys) != 2 || keys[1] != fmt.Sprintf("wattfare-recharge-%s-2", p.account) {
		t.Fatalf("second crossing: %d top-ups, PaymentIntents %q", len(charges), keys)
	}
}

// declining is a provider whose saved cards are declined.
type declining struct{ wattfare.PaymentProvider }

func (declining) ChargeOffSession(context.Context, wattfare.OffSessionCharge) (string, error) {
	return "", fmt.Errorf("charge saved card: %w: Your card was declined. (card_declined)", stripe.ErrCardDeclined)
}

// A declined auto-recharge charge fails its top-up and turns auto-recharge
// off with the reason, without retrying; so does a charge Stripe reports
// failed later (payment_intent.payment_failed).
func TestAutoRechargeDeclinedTurnsItOff(t *testing.T) {
	p := newPayer(t)
	p.pay.Provider = declining{}
	c := runJobs(t, p, func(err error) bool { return errors.Is(err, stripe.ErrCardDeclined) })
	p.enableAutoRecharge(5*wattfare.Dollar, 20*wattfare.Dollar)
	if made, err := p.pay.ScanAutoRecharge(p.ctx, c); err != nil || len(made) != 1 {
		t.Fatalf("scan of an empty wallet: %v %v", made, err)
	}
	charges := p.awaitCharges(c)
	if len(charges) != 1 || charges[0].Status != wattfare.TopUpFailed || charges[0].Failure == "" {
		t.Fatalf("declined recharge: %+v", charges)
	}
	ar, _ := p.pay.AutoRecharge(p.ctx, p.account)
	if ar.Enabled || ar.DisabledReason == "" {
		t.Fatalf("auto-recharge after a decline: %+v", ar)
	}
	var attempts int
	p.db.QueryRow(p.ctx, `SELECT attempt FROM river_job WHERE kind = $1`, wattfare.AutoRechargeCharge{}.Kind()).Scan(&attempts)
	if attempts != 1 {
		t.Fatalf("the declined charge was tried %d times", attempts)
	}
	if made, _ := p.pay.ScanAutoRecharge(p.ctx, c); len(made) != 0 {
		t.Fatal("a turned-off auto-recharge charged again")
	}

	// On again; Stripe's asynchronous failure turns it off the same way.
	p.pay.SetAutoRecharge(p.ctx, p.account, true, 5*wattfare.Dollar, 20*wattfare.Dollar)
	tu := wattfare.NewID("tu_")
	p.exec(`INSERT INTO top_ups (id, account_id, source, amount, payment_intent_id) VALUES ($1, $2, 'auto_recharge', $3, 'pi_' || $1)`, tu, p.account, int64(20*wattfare.Dollar))
	p.apply(wattfare.PaymentEvent{ID: "evt_pf", Type: wattfare.EventPaymentIntentPaymentFailed, TopUpID: tu, PaymentIntentID: "pi_" + tu,
		Currency: "usd", Amount: 20 * wattfare.Dollar, FailureMessage: "Your card has insufficient funds."})
	ar, _ = p.pay.AutoRecharge(p.ctx, p.account)
	if ar.Enabled || ar.DisabledReason == "" || p.status(tu) != wattfare.TopUpFailed {
		t.Fatalf("after payment_intent.payment_failed: %+v, top-up %s", ar, p.status(tu))
	}
}
