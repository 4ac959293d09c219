package stripe_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/stripemock"
	"github.com/wattfare/wattfare/stripe"
)

var mockURL string

// TestMain runs one stripe-mock for the package (installing it when
// missing): the tests below talk to it through stripe-go.
func TestMain(m *testing.M) {
	p, err := stripemock.StartProcess()
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	mockURL = p.URL
	code := m.Run()
	p.Stop()
	os.Exit(code)
}

func client(t *testing.T) *stripe.Client {
	t.Helper()
	c, err := stripe.New(stripe.Config{SecretKey: "sk_test_123", APIURL: mockURL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The calls Wattfare makes pass stripe-mock's validation against Stripe's
// OpenAPI spec (a parameter Stripe does not know fails there), and their
// answers parse into what the ledger keeps.
func TestCallsPassStripeValidation(t *testing.T) {
	t.Parallel()
	c := client(t)
	ctx := context.Background()
	cus, err := c.CreateCustomer(ctx, "acct_1", "a@example.com")
	if err != nil || !strings.HasPrefix(cus, "cus_") {
		t.Fatalf("customer: %q %v", cus, err)
	}
	cs, err := c.CreateCheckout(ctx, wattfare.CheckoutRequest{TopUpID: "tu_1", CustomerID: cus, Amount: 10 * wattfare.Dollar,
		SuccessURL: "http://127.0.0.1:8080/budget?top_up=tu_1", CancelURL: "http://127.0.0.1:8080/budget", SaveCard: true})
	if err != nil || !strings.HasPrefix(cs.ID, "cs_") || cs.URL == "" {
		t.Fatalf("checkout: %+v %v", cs, err)
	}
	pi, err := c.ChargeOffSession(ctx, wattfare.OffSessionCharge{TopUpID: "tu_2", CustomerID: cus, PaymentMethodID: "pm_card_visa",
		Amount: 25 * wattfare.Dollar, IdempotencyKey: "wattfare-recharge-acct_1-1"})
	if err != nil || !strings.HasPrefix(pi, "pi_") {
		t.Fatalf("off-session charge: %q %v", pi, err)
	}
	pays, err := c.Payments(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatalf("payments: %v", err)
	}
	if len(pays) == 0 || pays[0].ChargeID == "" {
		t.Fatalf("payments: %+v", pays)
	}
}

// Amounts that are not whole cents never reach Stripe.
func TestRefusesFractionalCents(t *testing.T) {
	t.Parallel()
	c := client(t)
	_, err := c.CreateCheckout(context.Background(), wattfare.CheckoutRequest{TopUpID: "tu_1", CustomerID: "cus_1",
		Amount: 10*wattfare.Dollar + 1, SuccessURL: "http://x/", CancelURL: "http://x/"})
	if err == nil {
		t.Fatal("a checkout of 10.000000001 was created")
	}
}

// The secret key never appears in a formatted Config.
func TestConfigRedactsKey(t *testing.T) {
	t.Parallel()
	cfg := stripe.Config{SecretKey: "sk_live_supersecret", APIURL: "http://x"}
	for _, s := range []string{cfg.String(), strings.TrimSpace(func() string { return fmtV(cfg) }())} {
		if strings.Contains(s, "supersecret") {
			t.Fatalf("formatted config shows the key: %s", s)
		}
	}
}

// Redact leaves no secret of any kind in a message.
func TestRedact(t *testing.T) {
	t.Parallel()
	in := "Authorization was 'Bearer sk_live_abcDEF123' and rk_test_zz9, signed whsec_5ecret; pk_live_ok stays"
	got := stripe.Redact(in)
	for _, s := range []string{"abcDEF123", "zz9", "5ecret"} {
		if strings.Contains(got, s) {
			t.Fatalf("Redact(%q) = %q", in, got)
		}
	}
	if !strings.Contains(got, "sk_live_…") || !strings.Contains(got, "pk_live_ok") {
		t.Fatalf("Redact(%q) = %q", in, got)
	}
}
