package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/wattfare/wattfare/postgres"
)

// devEnv is what `wattfare dev` shares with the services it starts.
type devEnv struct {
	DatabaseURL string
	Pool        *pgxpool.Pool
	ControlAddr string // WATTFARE_CONTROL_ADDR
	DataAddr    string // WATTFARE_DATA_ADDR
	SandboxAddr string // WATTFARE_SANDBOX_ADDR
	DemoAddr    string // WATTFARE_DEMO_ADDR
	MetricsAddr string // WATTFARE_METRICS_ADDR
	Info        *devInfo
}

// devInfo is written to .wattfare/dev.json: what a newcomer needs.
type devInfo struct {
	ControlURL      string   `json:"control_url"`
	DataURL         string   `json:"data_url"`
	DemoURL         string   `json:"demo_url,omitempty"`
	MetricsURL      string   `json:"metrics_url,omitempty"`
	App             devApp   `json:"app"`
	LiveApp         *devApp  `json:"live_app,omitempty"` // the same app's live-mode keys
	User            devUser  `json:"user"`
	ConnectedUserID string   `json:"connected_user_id"`
	Developer       *devUser `json:"developer,omitempty"`
	Admin           *devUser `json:"admin,omitempty"`
	// Stripe is stripe-mock's address and the dev webhook secret, when
	// `wattfare dev` runs stripe-mock (devStripe).
	Stripe *devStripeInfo `json:"stripe,omitempty"`
	// Mail is mailpit's SMTP server and inbox, when `wattfare dev` runs
	// mailpit (devMailpit).
	Mail *devMailInfo `json:"mail,omitempty"`
}

type devApp struct {
	ID             string `json:"id,omitempty"`
	Name           string `json:"name"`
	PublishableKey string `json:"publishable_key"`
	SecretKey      string `json:"secret_key"`
}

type devUser struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// devService is a long-running part of `wattfare dev`. order sorts start-up
// (seed first, then upstreams, then the planes); run blocks until ctx ends.
type devService struct {
	name  string
	order int
	run   func(ctx context.Context, env *devEnv) error
}

var devServices []devService

func registerDev(name string, order int, run func(ctx context.Context, env *devEnv) error) {
	devServices = append(devServices, devService{name: name, order: order, run: run})
}

// devSeed runs once, after migrations and before the services start. The
// control plane's file sets it; it must be idempotent.
var devSeed func(ctx context.Context, env *devEnv) error

func init() {
	register("dev", "run everything locally with a seeded demo", runDev)
}

func runDev(ctx context.Context, args []string) error {
	env := &devEnv{
		DatabaseURL: databaseURL(),
		ControlAddr: envOr("WATTFARE_CONTROL_ADDR", "127.0.0.1:8080"),
		DataAddr:    envOr("WATTFARE_DATA_ADDR", "127.0.0.1:8787"),
		SandboxAddr: envOr("WATTFARE_SANDBOX_ADDR", "127.0.0.1:8790"),
		DemoAddr:    envOr("WATTFARE_DEMO_ADDR", "127.0.0.1:3000"),
		MetricsAddr: envOr("WATTFARE_METRICS_ADDR", "127.0.0.1:9464"),
	}
	env.Info = &devInfo{ControlURL: "http://" + env.ControlAddr, DataURL: "http://" + env.DataAddr, DemoURL: "http://" + env.DemoAddr,
		MetricsURL: "http://" + env.MetricsAddr + "/metrics"}
	if err := postgres.EnsureDatabase(ctx, env.DatabaseURL); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, env.DatabaseURL); err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, env.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	env.Pool = pool
	if devSeed != nil {
		if err := devSeed(ctx, env); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	stopMail := devMailpit(ctx, env.Info)
	defer stopMail()
	if err := writeDevInfo(env.Info); err != nil {
		return err
	}
	printDevInfo(env.Info)

	sort.SliceStable(devServices, func(i, j int) bool { return devServices[i].order < devServices[j].order })
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range devServices {
		g.Go(func() error {
			if err := s.run(gctx, env); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func writeDevInfo(info *devInfo) error {
	if err := os.MkdirAll(".wattfare", 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(".wattfare", "dev.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	slog.Info("wrote " + path)
	return nil
}

func printDevInfo(info *devInfo) {
	fmt.Printf(`
Wattfare is running (Ctrl-C to stop)

  control plane   %s        (dashboard, consent popup, GraphQL at /graphql)
  data plane      %s        (OpenAI-compatible: /v1/chat/completions)
  demo app        %s        (Acme Chat: examples/acme-chat with its wattfare.patch)
  metrics         %s  (Prometheus; /healthz and /readyz beside it)
%s

  demo app "%s"
    publishable   %s
    secret        %s
  demo user       %s / %s  (connected as app user %q)

Try it: a streamed answer, charged in test money to the demo user's budget
%s
`, info.ControlURL, info.DataURL, info.DemoURL, info.MetricsURL, devMailLine(info), info.App.Name, info.App.PublishableKey, info.App.SecretKey,
		info.User.Email, info.User.Password, info.ConnectedUserID, devCurl(info))
}

// devMailLine is the banner's line for alert emails: mailpit's inbox, or
// why there is none.
func devMailLine(info *devInfo) string {
	if info.Mail != nil {
		return fmt.Sprintf("  email inbox     %s         (mailpit: budget alert emails)", info.Mail.InboxURL)
	}
	if os.Getenv("WATTFARE_SMTP_URL") != "" {
		return "  email           sent through WATTFARE_SMTP_URL"
	}
	return "  email           off: budget alerts show on the budget page only (bash scripts/ensure-mailpit.sh)"
}

// devCurlModel is the model the banner's curl asks for: a real catalog
// model, which test keys have the sandbox simulate at its real prices.
const devCurlModel = "openai/gpt-4o-mini"

// devCurl is a ready-to-paste command that streams one answer through the
// data plane with the seeded test key, as the connected demo user. It is
// the banner's "Try it", and the browser tests run it as printed.
func devCurl(info *devInfo) string {
	return fmt.Sprintf(`  curl -N %s/v1/chat/completions \
    -H "Authorization: Bearer %s" \
    -H "Wattfare-User: %s" \
    -H "Content-Type: application/json" \
    -d '{"model":"%s","stream":true,"messages":[{"role":"user","content":"hello wattfare"}]}'
`, info.DataURL, info.App.SecretKey, info.ConnectedUserID, devCurlModel)
}
