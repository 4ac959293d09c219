package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/stripemock"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

const (
	cmdStripeKey     = "sk_live_cmdTestSecretKey0123456789abcdef"
	cmdWebhookSecret = "whsec_cmdTestWebhookSecret0123456789"
)

// captureLogs sends slog's default logger to a buffer for the test.
func captureLogs(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// The Stripe key and the webhook secret appear in no log line and no
// error, configured or misconfigured.
func TestStripeSecretsNeverLogged(t *testing.T) {
	logs := captureLogs(t)
	t.Setenv("WATTFARE_STRIPE_SECRET_KEY", cmdStripeKey)
	t.Setenv("WATTFARE_STRIPE_WEBHOOK_SECRET", cmdWebhookSecret)
	t.Setenv("WATTFARE_STRIPE_API_URL", stripemock.Start(t))
	p, err := paymentsFromEnv()
	if err != nil || p.provider == nil || p.verifier == nil {
		t.Fatalf("configured: %+v %v", p, err)
	}
	// stripe-mock refuses a live key with a message that quotes the
	// Authorization header: the error must not carry the key on.
	var errs []string
	_, err = p.provider.CreateCheckout(context.Background(), wattfare.CheckoutRequest{TopUpID: "tu_1", CustomerID: "cus_1",
		Amount: 10 * wattfare.Dollar, SuccessURL: "http://x/", CancelURL: "http://x/"})
	if err == nil || !strings.Contains(err.Error(), "sk_live_…") {
		t.Fatalf("checkout with a live key on stripe-mock: %v, want its refusal with the key redacted", err)
	}
	errs = append(errs, err.Error())
	for _, c := range []struct{ key, secret string }{{cmdStripeKey, ""}, {"pk_live_" + cmdStripeKey, cmdWebhookSecret}, {cmdStripeKey, "not" + cmdWebhookSecret}} {
		t.Setenv("WATTFARE_STRIPE_SECRET_KEY", c.key)
		t.Setenv("WATTFARE_STRIPE_WEBHOOK_SECRET", c.secret)
		if _, err := paymentsFromEnv(); err == nil {
			t.Errorf("key %q… secret %q…: configured", c.key[:8], c.secret[:min(len(c.secret), 6)])
		} else {
			errs = append(errs, err.Error())
		}
	}
	all := logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(logs.String(), "Stripe configured") {
		t.Fatalf("no configuration line logged:\n%s", logs)
	}
	for _, secret := range []string{cmdStripeKey, cmdWebhookSecret, "0123456789abcdef"} {
		if strings.Contains(all, secret) {
			t.Fatalf("a secret appears in the logs or errors:\n%s", all)
		}
	}
}

// wattfare reconcile stripe prints agreement on a ledger Stripe agrees
// with, and fails listing a credited top-up Stripe has no payment for.
func TestReconcileStripeCommand(t *testing.T) {
	captureLogs(t)
	url := pgtest.NewURL(t)
	t.Setenv("DATABASE_URL", url)
	t.Setenv("WATTFARE_STRIPE_SECRET_KEY", "sk_test_reconcile")
	t.Setenv("WATTFARE_STRIPE_WEBHOOK_SECRET", "whsec_reconcile")
	t.Setenv("WATTFARE_STRIPE_API_URL", stripemock.Start(t))
	run := func() (string, error) {
		r, w, _ := os.Pipe()
		stdout := os.Stdout
		os.Stdout = w
		err := runReconcile(context.Background(), []string{"stripe", "-since", "1h"})
		os.Stdout = stdout
		w.Close()
		out, _ := io.ReadAll(r)
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "the ledger and Stripe agree") {
		t.Fatalf("empty ledger: %v\n%s", err, out)
	}
	ctx := context.Background()
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, q := range []string{
		`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_r', 'r@example.com', 'x')`,
		`INSERT INTO top_ups (id, account_id, amount) VALUES ('tu_r', 'acct_r', 1000000000)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (&postgres.Payments{DB: pool}).Apply(ctx, wattfare.PaymentEvent{ID: "evt_r", Type: wattfare.EventCheckoutCompleted, Created: time.Now(),
		TopUpID: "tu_r", PaymentIntentID: "pi_r", Currency: "usd", Amount: wattfare.Dollar, PaymentStatus: "paid"}); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if err == nil || !strings.Contains(out, "credited, no Stripe payment") || !strings.Contains(out, "tu_r") || !strings.Contains(out, "1.00") {
		t.Fatalf("a top-up Stripe does not know: %v\n%s", err, out)
	}
}
