package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/internal/stripemock"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/stripe"
)

func init() {
	register("reconcile", "compare the ledger with Stripe's payments (wattfare reconcile stripe)", runReconcile)
	jobSetups = append(jobSetups, autoRechargeJobs)
}

// autoRechargeJobs runs auto-recharge where Stripe is configured: a scan
// every WATTFARE_AUTO_RECHARGE_INTERVAL (10 s) that starts one charge per
// wallet crossing its threshold, and the charges themselves.
func autoRechargeJobs(ctx context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error {
	pc, err := parsePayments()
	if err != nil || pc.provider == nil {
		return err
	}
	every, err := time.ParseDuration(envOr("WATTFARE_AUTO_RECHARGE_INTERVAL", "10s"))
	if err != nil || every <= 0 {
		return fmt.Errorf("WATTFARE_AUTO_RECHARGE_INTERVAL: want a positive duration such as 10s")
	}
	p := &postgres.Payments{DB: pool, Provider: pc.provider, MinTopUp: pc.min, MaxTopUp: pc.max}
	jobs.Add(reg, &postgres.RechargeScanWorker{Payments: p})
	jobs.Add(reg, &postgres.RechargeChargeWorker{Payments: p, Declined: func(err error) bool { return errors.Is(err, stripe.ErrCardDeclined) }})
	reg.Periodic(river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return wattfare.AutoRechargeScan{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
	}, &river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}

// payments is Stripe as the environment configures it: WATTFARE_STRIPE_SECRET_KEY,
// WATTFARE_STRIPE_WEBHOOK_SECRET and WATTFARE_STRIPE_API_URL (stripe-mock
// in tests and in `wattfare dev`), and the bounds of one top-up
// (WATTFARE_TOP_UP_MIN_USD, WATTFARE_TOP_UP_MAX_USD). With no secret key,
// payments are off: top-ups are refused and the webhook answers 503.
type payments struct {
	provider wattfare.PaymentProvider
	verifier controlplane.WebhookVerifier
	min, max wattfare.Money
	apiURL   string
}

// paymentsFromEnv reads the Stripe configuration. No error or log line
// it writes contains a key: they name the variable instead.
func paymentsFromEnv() (payments, error) {
	p, err := parsePayments()
	if err != nil {
		return p, err
	}
	if p.provider == nil {
		slog.Info("payments: not configured (no WATTFARE_STRIPE_SECRET_KEY): top-ups are off, admin grants still work")
		return p, nil
	}
	api := p.apiURL
	if api == "" {
		api = "https://api.stripe.com"
	}
	key := os.Getenv("WATTFARE_STRIPE_SECRET_KEY")
	slog.Info("payments: Stripe configured", "api", api, "live", strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_"),
		"top_up_min", p.min.String(), "top_up_max", p.max.String())
	return p, nil
}

// parsePayments is paymentsFromEnv without its log line.
func parsePayments() (payments, error) {
	var p payments
	var err error
	if p.min, err = moneyEnv("WATTFARE_TOP_UP_MIN_USD", postgres.DefaultMinTopUp); err != nil {
		return p, err
	}
	if p.max, err = moneyEnv("WATTFARE_TOP_UP_MAX_USD", postgres.DefaultMaxTopUp); err != nil {
		return p, err
	}
	if p.min <= 0 || p.max < p.min || p.min%wattfare.Cent != 0 || p.max%wattfare.Cent != 0 {
		return p, fmt.Errorf("WATTFARE_TOP_UP_MIN_USD and WATTFARE_TOP_UP_MAX_USD: want whole cents with 0 < min <= max")
	}
	key := os.Getenv("WATTFARE_STRIPE_SECRET_KEY")
	secret := os.Getenv("WATTFARE_STRIPE_WEBHOOK_SECRET")
	p.apiURL = os.Getenv("WATTFARE_STRIPE_API_URL")
	if key == "" {
		if secret != "" {
			return p, errors.New("WATTFARE_STRIPE_WEBHOOK_SECRET is set without WATTFARE_STRIPE_SECRET_KEY")
		}
		return p, nil
	}
	if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
		return p, errors.New("WATTFARE_STRIPE_SECRET_KEY: not a Stripe secret or restricted key (sk_… or rk_…)")
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return p, errors.New("WATTFARE_STRIPE_WEBHOOK_SECRET: set it to the endpoint's signing secret (whsec_…) with WATTFARE_STRIPE_SECRET_KEY")
	}
	sc, err := stripe.New(stripe.Config{SecretKey: key, APIURL: p.apiURL})
	if err != nil {
		return p, fmt.Errorf("WATTFARE_STRIPE_SECRET_KEY: %w", err)
	}
	v, err := stripe.NewVerifier(secret)
	if err != nil {
		return p, fmt.Errorf("WATTFARE_STRIPE_WEBHOOK_SECRET: %w", err)
	}
	p.provider, p.verifier = sc, v
	return p, nil
}

func moneyEnv(name string, def wattfare.Money) (wattfare.Money, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	m, err := wattfare.ParseMoney(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// devStripe starts stripe-mock for `wattfare dev` when it is installed
// (scripts/ensure-stripe-mock.sh; `make dev` runs it) and Stripe is not
// configured otherwise, so Add funds works end to end on one machine: the
// Checkout Session comes from stripe-mock, and the webhook is whatever a
// test or a developer signs with the secret written to .wattfare/dev.json.
// It returns the process's end, or nil when it started nothing.
func devStripe(ctx context.Context, info *devInfo) (func(), error) {
	if os.Getenv("WATTFARE_STRIPE_SECRET_KEY") != "" {
		return nil, nil
	}
	if _, err := exec.LookPath("stripe-mock"); err != nil {
		gopath, gerr := exec.Command("go", "env", "GOPATH").Output()
		if gerr != nil {
			return nil, nil
		}
		if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(gopath)), "bin", "stripe-mock")); err != nil {
			slog.Info("payments: stripe-mock is not installed (bash scripts/ensure-stripe-mock.sh): Add funds says payments are not configured")
			return nil, nil
		}
	}
	p, err := stripemock.StartProcess()
	if err != nil {
		return nil, err
	}
	var b [16]byte
	rand.Read(b[:])
	secret := "whsec_dev_" + hex.EncodeToString(b[:])
	os.Setenv("WATTFARE_STRIPE_API_URL", p.URL)
	os.Setenv("WATTFARE_STRIPE_SECRET_KEY", "sk_test_wattfaredev")
	os.Setenv("WATTFARE_STRIPE_WEBHOOK_SECRET", secret)
	info.Stripe = &devStripeInfo{APIURL: p.URL, WebhookURL: info.ControlURL + "/v1/webhooks/stripe", WebhookSecret: secret}
	if err := writeDevInfo(info); err != nil {
		p.Stop()
		return nil, err
	}
	slog.Info("payments: stripe-mock for Add funds", "api", p.URL)
	go func() { <-ctx.Done(); p.Stop() }()
	return p.Stop, nil
}

// devStripeInfo is dev.json's "stripe": where stripe-mock answers and how
// to sign a webhook event for the control plane (a dev-only secret).
type devStripeInfo struct {
	APIURL        string `json:"api_url"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret"`
}

const reconcileUsage = `usage:
  wattfare reconcile stripe [-since 720h]   list every payment on which the ledger (credited
                                            less refunds) and Stripe (paid less refunded)
                                            differ, and the events the ledger refused;
                                            fails when there is any difference`

func runReconcile(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "stripe" {
		fmt.Fprintln(os.Stderr, reconcileUsage)
		return errors.New("reconcile: name what to reconcile with (stripe)")
	}
	fs := flag.NewFlagSet("reconcile stripe", flag.ContinueOnError)
	since := fs.Duration("since", 30*24*time.Hour, "how far back to compare")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pc, err := paymentsFromEnv()
	if err != nil {
		return err
	}
	if pc.provider == nil {
		return errors.New("reconcile: Stripe is not configured (WATTFARE_STRIPE_SECRET_KEY)")
	}
	pool, err := postgres.Open(ctx, databaseURL())
	if err != nil {
		return err
	}
	defer pool.Close()
	rec, err := (&postgres.Payments{DB: pool, Provider: pc.provider}).Reconcile(ctx, time.Now().Add(-*since))
	if err != nil {
		return err
	}
	fmt.Printf("compared %d Stripe payments since %s: ledger %s, Stripe %s\n", rec.Payments,
		time.Now().Add(-*since).UTC().Format(time.RFC3339), rec.LedgerNet, rec.StripeNet)
	for _, l := range rec.Lines {
		fmt.Printf("  %-40s top-up %-22s charge %-28s account %-22s ledger %10s  stripe %10s\n",
			l.Problem, dash(l.TopUpID), dash(l.ChargeID), dash(l.AccountID), l.Ledger, l.Stripe)
	}
	for _, e := range rec.RefusedEvents {
		fmt.Printf("  refused event %s (%s) top-up %s at %s: %s\n", e.EventID, e.Type, dash(e.TopUpID), e.ReceivedAt.UTC().Format(time.RFC3339), e.Outcome)
	}
	if len(rec.Lines) == 0 && len(rec.RefusedEvents) == 0 {
		fmt.Println("the ledger and Stripe agree")
		return nil
	}
	return fmt.Errorf("reconcile: %d differences, %d refused events", len(rec.Lines), len(rec.RefusedEvents))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
