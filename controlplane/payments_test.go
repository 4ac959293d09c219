package controlplane_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/internal/stripemock"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
	"github.com/wattfare/wattfare/stripe"
)

const (
	testStripeKey     = "sk_test_wattfareSecretKey0123456789"
	testWebhookSecret = "whsec_wattfareWebhookSecret0123456789"
)

// payHarness is the control plane with Stripe configured against a
// stripe-mock of its own, and its log captured.
type payHarness struct {
	*harness
	payments wattfare.PaymentService
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setupPayments(t *testing.T, configured bool) *payHarness {
	t.Helper()
	t.Parallel()
	pool := pgtest.NewPool(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := controlplane.Config{PublicURL: "http://example.com", DataURL: "http://data.example.com", Logger: log}
	opts := postgres.ServiceOptions{LeaseWait: 10 * time.Second, ReservedOrigins: controlplane.OwnOrigins(cfg.PublicURL, cfg.DataURL), PublicURL: cfg.PublicURL}
	if configured {
		sc, err := stripe.New(stripe.Config{SecretKey: testStripeKey, APIURL: stripemock.Start(t)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := stripe.NewVerifier(testWebhookSecret)
		if err != nil {
			t.Fatal(err)
		}
		opts.Payments, cfg.StripeWebhook = sc, v
	}
	cfg.Services = postgres.NewServices(pool, opts)
	s, err := controlplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ph := &payHarness{harness: &harness{t: t, pool: pool, h: s.Handler()}, payments: cfg.Services.Payments, logs: logs}
	t.Cleanup(func() {
		for _, secret := range []string{testStripeKey, testWebhookSecret} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log shows a Stripe secret:\n%s", logs.String())
			}
		}
	})
	return ph
}

// deliver posts a webhook body with its signature header, as Stripe does.
func (h *payHarness) deliver(body []byte, signature string) (int, string) {
	r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/stripe", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if signature != "" {
		r.Header.Set("Stripe-Signature", signature)
	}
	w := h.serve(r)
	return w.Code, w.Body.String()
}

func (h *payHarness) liveCredits(account string) wattfare.Money {
	h.t.Helper()
	var c int64
	if err := h.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT credits FROM wallets WHERE account_id = $1 AND mode = 'live'), 0)`, account).Scan(&c); err != nil {
		h.t.Fatal(err)
	}
	return wattfare.Money(c)
}

// startTopUp signs up an account and starts a top-up of amount against
// stripe-mock, as the budget page's Add funds does.
func (h *payHarness) startTopUp(amount wattfare.Money) (account string, tu wattfare.TopUp) {
	h.t.Helper()
	_, account = h.signUp(wattfare.NewID("pay") + "@example.com")
	tu, err := h.payments.StartTopUp(context.Background(), account, amount)
	if err != nil {
		h.t.Fatalf("start top-up: %v", err)
	}
	return account, tu
}

// Ten concurrent deliveries of one signed checkout.session.completed
// credit the $10 top-up exactly once, and every delivery is answered 200.
func TestStripeWebhookCreditsOnceUnderConcurrentDeliveries(t *testing.T) {
	h := setupPayments(t, true)
	account, tu := h.startTopUp(10 * wattfare.Dollar)
	if tu.Status != wattfare.TopUpPending || !strings.HasPrefix(tu.CheckoutURL, "https://checkout.stripe.com/") {
		t.Fatalf("started top-up: %+v", tu)
	}
	body, sig := stripemock.CheckoutCompleted("evt_"+tu.ID, tu.ID, "cs_"+tu.ID, "pi_"+tu.ID, 1000).Sign(testWebhookSecret, time.Time{})
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = h.deliver(body, sig)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("delivery %d: %d", i, c)
		}
	}
	if got := h.liveCredits(account); got != 10*wattfare.Dollar {
		t.Fatalf("live credits %s after 10 concurrent deliveries, want 10.00", got)
	}
	if n := h.count(`SELECT count(*) FROM wallet_ledger WHERE top_up_id = $1`, tu.ID); n != 1 {
		t.Fatalf("%d ledger entries, want 1", n)
	}
	got, _ := h.payments.TopUp(context.Background(), account, tu.ID)
	if got.Status != wattfare.TopUpSucceeded || got.CreditedAt == nil {
		t.Fatalf("top-up after the webhook: %+v", got)
	}
}

// Only a body signed with the endpoint's secret within five minutes
// reaches the ledger: a wrong secret, an altered body, a stale timestamp,
// a missing header all answer 400 and credit nothing.
func TestStripeWebhookRefusesBadSignatures(t *testing.T) {
	h := setupPayments(t, true)
	account, tu := h.startTopUp(10 * wattfare.Dollar)
	ev := stripemock.CheckoutCompleted("evt_bad_"+tu.ID, tu.ID, "cs_"+tu.ID, "pi_"+tu.ID, 1000)
	good, goodSig := ev.Sign(testWebhookSecret, time.Time{})
	_, wrongSig := ev.Sign("whsec_someoneelse", time.Time{})
	_, staleSig := ev.Sign(testWebhookSecret, time.Now().Add(-6*time.Minute))
	altered := bytes.Replace(good, []byte(`"amount_total":1000`), []byte(`"amount_total":100000`), 1)
	if bytes.Equal(altered, good) {
		t.Fatal("test did not alter the body")
	}
	for name, c := range map[string]struct {
		body []byte
		sig  string
	}{
		"wrong secret": {good, wrongSig}, "stale": {good, staleSig}, "altered body": {altered, goodSig},
		"no header": {good, ""}, "garbage header": {good, "t=1,v1=00"},
	} {
		if code, resp := h.deliver(c.body, c.sig); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, resp)
		}
	}
	if got := h.liveCredits(account); got != 0 {
		t.Fatalf("credits %s after refused deliveries", got)
	}
	if n := h.count(`SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("%d events recorded from unverified bodies", n)
	}
	// The good delivery still works afterwards.
	if code, resp := h.deliver(good, goodSig); code != http.StatusOK {
		t.Fatalf("good delivery: %d %s", code, resp)
	}
	if got := h.liveCredits(account); got != 10*wattfare.Dollar {
		t.Fatalf("credits %s", got)
	}
}

// A body over the limit is refused before its signature is even checked.
func TestStripeWebhookBodyLimit(t *testing.T) {
	h := setupPayments(t, true)
	big := stripemock.Event{ID: "evt_big", Type: "customer.updated", Object: map[string]any{
		"object": "customer", "description": strings.Repeat("x", controlplane.MaxWebhookBytes)}}
	body, sig := big.Sign(testWebhookSecret, time.Time{})
	if code, _ := h.deliver(body, sig); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", code)
	}
}

// A $4 partial refund delivered twice takes back $4, and an unknown
// event type is answered 200 and changes nothing.
func TestStripeWebhookPartialRefundTwice(t *testing.T) {
	h := setupPayments(t, true)
	account, tu := h.startTopUp(10 * wattfare.Dollar)
	pi := "pi_" + tu.ID
	for _, ev := range []stripemock.Event{
		stripemock.CheckoutCompleted("evt_p_"+tu.ID, tu.ID, "cs_"+tu.ID, pi, 1000),
		stripemock.ChargeRefunded("evt_r_"+tu.ID, "ch_"+tu.ID, pi, 1000, 400),
		stripemock.ChargeRefunded("evt_r_"+tu.ID, "ch_"+tu.ID, pi, 1000, 400),
		{ID: "evt_u_" + tu.ID, Type: "invoice.paid", Object: map[string]any{"id": "in_1", "object": "invoice"}},
	} {
		body, sig := ev.Sign(testWebhookSecret, time.Time{})
		if code, resp := h.deliver(body, sig); code != http.StatusOK {
			t.Fatalf("%s: %d %s", ev.Type, code, resp)
		}
	}
	if got := h.liveCredits(account); got != 6*wattfare.Dollar {
		t.Fatalf("credits %s after a $4 refund delivered twice, want 6.00", got)
	}
	got, _ := h.payments.TopUp(context.Background(), account, tu.ID)
	if got.Status != wattfare.TopUpPartiallyRefunded || got.Refunded != 4*wattfare.Dollar || got.ReceiptURL == "" {
		t.Fatalf("top-up: %+v", got)
	}
}

// Without Stripe configured the endpoint answers 503 (Stripe retries) and
// a top-up is refused with PAYMENTS_NOT_CONFIGURED.
func TestPaymentsNotConfigured(t *testing.T) {
	h := setupPayments(t, false)
	_, account := h.signUp("nopay@example.com")
	body, sig := stripemock.CheckoutCompleted("evt_x", "tu_x", "cs_x", "pi_x", 1000).Sign(testWebhookSecret, time.Time{})
	if code, _ := h.deliver(body, sig); code != http.StatusServiceUnavailable {
		t.Fatalf("webhook without Stripe: %d, want 503", code)
	}
	_, err := h.payments.StartTopUp(context.Background(), account, 10*wattfare.Dollar)
	if wattfare.ErrorCode(err) != wattfare.EPAYMENTSNOTCONFIGURED {
		t.Fatalf("top-up without Stripe: %v", err)
	}
}

// The ledger CSV export: the signed-in account's credits, refunds and
// charges with their source, oldest first; an app name that looks like a
// formula is defused; signed out, nothing.
func TestLedgerCSVExport(t *testing.T) {
	h := setupPayments(t, true)
	b, account := h.signUp("csv@example.com")
	tu, err := h.payments.StartTopUp(context.Background(), account, 10*wattfare.Dollar)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []stripemock.Event{
		stripemock.CheckoutCompleted("evt_csv1", tu.ID, "cs_"+tu.ID, "pi_"+tu.ID, 1000),
		stripemock.ChargeRefunded("evt_csv2", "ch_"+tu.ID, "pi_"+tu.ID, 1000, 250),
	} {
		body, sig := ev.Sign(testWebhookSecret, time.Time{})
		if code, resp := h.deliver(body, sig); code != http.StatusOK {
			t.Fatalf("%s: %d %s", ev.Type, code, resp)
		}
	}
	h.exec(`INSERT INTO apps (id, owner_id, name) VALUES ('app_csv', $1, '=HYPERLINK("x")')`, account)
	h.exec(`INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model, cost, charged)
		VALUES ('req_csv', now() + interval '1 second', 'app_csv', 'live', 'conn_x', $1, 'u', 'key_x', 'sandbox/echo', 1500000, 1500000)`, account)
	get := func(withSession bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/budget/ledger.csv?mode=live", nil)
		if withSession {
			b.mu.Lock()
			for _, c := range b.cookies {
				r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			b.mu.Unlock()
		}
		return h.serve(r)
	}
	if w := get(false); w.Code != http.StatusUnauthorized {
		t.Fatalf("signed out: %d", w.Code)
	}
	w := get(true)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", w.Code, w.Header())
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"source", "amount_usd", "reference", "app"},
		{"top_up", "10.00", tu.ID, ""},
		{"refund", "-2.50", tu.ID, ""},
		{"usage", "-0.0015", "req_csv", `'=HYPERLINK("x")`},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %q", rows)
	}
	for i, r := range rows {
		got := []string{r[1], r[3], r[4], r[5]}
		if strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, got, want[i])
		}
	}
}
