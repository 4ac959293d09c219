package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/graph"
	"github.com/wattfare/wattfare/postgres"
)

func init() {
	register("control", "run the control plane (GraphQL, consent popup, web app)", runControl)
	registerDev("control", 30, func(ctx context.Context, env *devEnv) error {
		printDemoLogins(env.Info)
		leaseWait, _ := time.ParseDuration(defaultLeaseWait())
		if _, err := devStripe(ctx, env.Info); err != nil {
			return err
		}
		return serveControl(ctx, env.ControlAddr, env.Pool, leaseWait, controlplane.Config{
			PublicURL: "http://" + env.ControlAddr,
			DataURL:   "http://" + env.DataAddr,
			Dev:       true,
		})
	})
	devSeed = func(ctx context.Context, env *devEnv) error {
		prev, err := readDevInfo(filepath.Join(".wattfare", "dev.json"))
		if err != nil {
			slog.Warn("ignoring unreadable .wattfare/dev.json", "err", err)
		}
		return seedDemo(ctx, env.Pool, env, prev)
	}
}

// runControl serves the control plane on WATTFARE_CONTROL_ADDR against
// DATABASE_URL. Migrations are `wattfare migrate`'s job.
func runControl(ctx context.Context, args []string) error {
	addr := envOr("WATTFARE_CONTROL_ADDR", "127.0.0.1:8080")
	pool, err := postgres.Open(ctx, databaseURL())
	if err != nil {
		return err
	}
	defer pool.Close()
	leaseWait, err := time.ParseDuration(envOr("WATTFARE_LEASE_WAIT", defaultLeaseWait()))
	if err != nil {
		return fmt.Errorf("WATTFARE_LEASE_WAIT: %w", err)
	}
	// The reverse proxies whose X-Forwarded-For names the client, as
	// addresses or networks ("10.0.0.0/8,192.0.2.7"); none by default.
	trusted, err := controlplane.ParseTrustedProxies(os.Getenv("WATTFARE_TRUSTED_PROXIES"))
	if err != nil {
		return fmt.Errorf("WATTFARE_TRUSTED_PROXIES: %w", err)
	}
	startMetrics(ctx)
	return serveControl(ctx, addr, pool, leaseWait, controlplane.Config{
		PublicURL:      envOr("WATTFARE_PUBLIC_URL", "http://"+addr),
		DataURL:        envOr("WATTFARE_DATA_URL", "http://127.0.0.1:8787"),
		Dev:            os.Getenv("WATTFARE_DEV") == "1",
		TrustedProxies: trusted,
	})
}

// defaultLeaseWait outlasts the data plane's lease TTL (WATTFARE_LEASE_TTL,
// 10 s by default), so that a revoke normally returns with every lease in
// its scope surrendered or expired rather than PROPAGATION_PENDING.
func defaultLeaseWait() string { return leaseWaitFor(os.Getenv("WATTFARE_LEASE_TTL")) }

func leaseWaitFor(leaseTTL string) string {
	wait := 15 * time.Second
	if ttl, err := time.ParseDuration(leaseTTL); err == nil && ttl+5*time.Second > wait {
		wait = ttl + 5*time.Second
	}
	return wait.String()
}

// serveControl serves the control plane on addr until ctx ends, then shuts
// down gracefully: in-flight requests (a revoke waiting for leases among
// them) get time to finish. It wires the control plane to the postgres
// services on pool: writes that stop spending wait at most leaseWait for
// the data plane, and no app may register Wattfare's own origins.
//
// The process also works the durable jobs (package jobs): writes insert
// them in their own transaction, and they run here until the HTTP server
// has shut down, so a job caused by a request that just finished is still
// taken (or left for the next process).
func serveControl(ctx context.Context, addr string, pool *pgxpool.Pool, leaseWait time.Duration, cfg controlplane.Config) error {
	// Webhook signing secrets' keyring (`wattfare dev` makes one), before
	// the jobs that open them.
	webhookRing, err := webhookKeyring(cfg.Dev)
	if err != nil {
		return err
	}
	jc, err := newJobs(ctx, pool)
	if err != nil {
		return err
	}
	pay, err := paymentsFromEnv()
	if err != nil {
		return err
	}
	cfg.StripeWebhook = pay.verifier
	cfg.Services = postgres.NewServices(pool, postgres.ServiceOptions{
		LeaseWait:       leaseWait,
		ReservedOrigins: controlplane.OwnOrigins(cfg.PublicURL, cfg.DataURL),
		Jobs:            jc,
		Payments:        pay.provider,
		PublicURL:       cfg.PublicURL,
		MinTopUp:        pay.min,
		MaxTopUp:        pay.max,
		Backstop:        backstopOn(),
		Webhooks:        webhookRing,
		AlertEmail:      alertEmail(),
	})
	cfg.GraphQLMetrics = graph.NewMetrics()
	s, err := controlplane.New(cfg)
	if err != nil {
		return err
	}
	registerControlMetrics(cfg.GraphQLMetrics, pool)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // above the lease wait of a revoke
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go (&postgres.Accounts{DB: pool}).SweepSessions(ctx, time.Hour, slog.Default())
	if err := startCatalog(ctx, pool); err != nil {
		return err
	}
	jctx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- jc.Run(jctx) }()
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	slog.Info("control plane listening", "addr", "http://"+ln.Addr().String(), "dev", cfg.Dev)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	err = <-done
	stopJobs()
	if jerr := <-jobsDone; jerr != nil {
		slog.Error("durable jobs stopped", "err", jerr)
	}
	return err
}

// The demo seed's fixed identities. The passwords are printed and written to
// .wattfare/dev.json: this is a local demo, never a deployment.
const (
	demoDeveloperEmail    = "dev@wattfare.dev"
	demoDeveloperPassword = "wattfare-demo-developer"
	demoAdminEmail        = "admin@wattfare.dev"
	demoAdminPassword     = "wattfare-demo-admin"
	demoUserEmail         = "user@wattfare.dev"
	demoUserPassword      = "wattfare-demo-user"
	demoAppName           = "Acme Chat"
	demoAppUserID         = "demo_user"
	demoCap               = 10 * wattfare.Dollar
	demoLiveCredit        = 20 * wattfare.Dollar
	demoLiveCreditNote    = "welcome credit (demo)"
)

func readDevInfo(path string) (*devInfo, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info devInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// seedDemo makes the demo of `wattfare dev` exist exactly once: a developer,
// an admin, the app "Acme Chat" with test and live keys, and a user with $20
// of test and live credit connected to the app in test mode with a $10 cap.
// Secrets are stored only as hashes, so the keys of the previous run (prev,
// from dev.json) are reused when they still belong to the app and work;
// otherwise new keys are made. It fills env.Info.
func seedDemo(ctx context.Context, pool *pgxpool.Pool, env *devEnv, prev *devInfo) error {
	// Two `wattfare dev` starting at once must not seed twice.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(4242002)`); err != nil {
		return fmt.Errorf("lock seed: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(4242002)`)

	accounts := &postgres.Accounts{DB: pool}
	apps := &postgres.Apps{DB: pool}
	keys := &postgres.Keys{DB: pool}
	conns := &postgres.Connections{DB: pool}
	wallets := &postgres.Wallets{DB: pool}

	dev, err := accounts.EnsureAccount(ctx, demoDeveloperEmail, demoDeveloperPassword, "Demo Developer")
	if err != nil {
		return fmt.Errorf("seed developer: %w", err)
	}
	admin, err := accounts.EnsureAccount(ctx, demoAdminEmail, demoAdminPassword, "Demo Admin")
	if err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	if err := accounts.SetAdmin(ctx, admin.ID, true); err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	user, err := accounts.EnsureAccount(ctx, demoUserEmail, demoUserPassword, "Demo User")
	if err != nil {
		return fmt.Errorf("seed user: %w", err)
	}

	origin := "http://" + env.DemoAddr
	app, err := apps.FindByOwnerAndName(ctx, dev.ID, demoAppName)
	switch {
	case wattfare.ErrorCode(err) == wattfare.ENOTFOUND:
		app, err = apps.Create(ctx, dev.ID, demoAppName, []string{origin})
	case err == nil && !slices.Contains(app.AllowedOrigins, origin):
		app, err = apps.Update(ctx, dev.ID, app.ID, nil, append(app.AllowedOrigins, origin))
	}
	if err != nil {
		return fmt.Errorf("seed app: %w", err)
	}
	appID, err := wattfare.ParseAppID(app.ID)
	if err != nil {
		return err
	}

	secretFor := func(mode wattfare.Mode, previous string) (string, error) {
		if previous != "" {
			k, err := keys.BySecret(ctx, previous)
			if err == nil && k.AppID == app.ID && k.Mode == mode && k.UsableAt(time.Now()) {
				return previous, nil
			}
		}
		_, secret, err := keys.Create(ctx, dev.ID, app.ID, mode)
		if wattfare.ErrorCode(err) == wattfare.ECONFLICT {
			// Runs without dev.json each made a key: retire the oldest
			// rather than refuse to start once the app has MaxKeysPerApp.
			all, lerr := keys.ListForApp(ctx, app.ID, mode)
			if lerr != nil {
				return "", lerr
			}
			for i := len(all) - 1; i >= 0; i-- { // newest first: walk from the oldest
				if all[i].UsableAt(time.Now()) {
					if _, err := keys.Revoke(ctx, dev.ID, all[i].ID); err != nil && wattfare.ErrorCode(err) != wattfare.EPROPAGATIONPENDING {
						return "", err
					}
					break
				}
			}
			_, secret, err = keys.Create(ctx, dev.ID, app.ID, mode)
		}
		return secret, err
	}
	var prevTest, prevLive string
	if prev != nil {
		prevTest = prev.App.SecretKey
		if prev.LiveApp != nil {
			prevLive = prev.LiveApp.SecretKey
		}
	}
	testSecret, err := secretFor(wattfare.ModeTest, prevTest)
	if err != nil {
		return fmt.Errorf("seed test key: %w", err)
	}
	liveSecret, err := secretFor(wattfare.ModeLive, prevLive)
	if err != nil {
		return fmt.Errorf("seed live key: %w", err)
	}

	if _, err := conns.Ensure(ctx, app.ID, wattfare.ModeTest, demoAppUserID, user.ID, demoCap); err != nil {
		return fmt.Errorf("seed connection: %w", err)
	}
	credited, err := wallets.HasCredit(ctx, user.ID, wattfare.ModeLive, demoLiveCreditNote)
	if err != nil {
		return fmt.Errorf("seed live credit: %w", err)
	}
	if !credited {
		if err := wallets.Credit(ctx, "", user.ID, wattfare.ModeLive, demoLiveCredit, demoLiveCreditNote); err != nil {
			return fmt.Errorf("seed live credit: %w", err)
		}
	}

	info := env.Info
	info.App = devApp{
		ID:             app.ID,
		Name:           app.Name,
		PublishableKey: wattfare.PublishableKey{App: appID, Mode: wattfare.ModeTest}.String(),
		SecretKey:      testSecret,
	}
	info.LiveApp = &devApp{
		ID:             app.ID,
		Name:           app.Name,
		PublishableKey: wattfare.PublishableKey{App: appID, Mode: wattfare.ModeLive}.String(),
		SecretKey:      liveSecret,
	}
	info.User = devUser{Email: demoUserEmail, Password: demoUserPassword}
	info.ConnectedUserID = demoAppUserID
	info.Developer = &devUser{Email: demoDeveloperEmail, Password: demoDeveloperPassword}
	info.Admin = &devUser{Email: demoAdminEmail, Password: demoAdminPassword}
	return nil
}

// printDemoLogins adds what the dev banner does not show: the dashboard
// logins of the developer and the admin, and the live keys.
func printDemoLogins(info *devInfo) {
	if info == nil || info.Developer == nil || info.Admin == nil || info.LiveApp == nil {
		return
	}
	fmt.Printf(`  dashboard logins (%s)
    developer     %s / %s
    admin         %s / %s
  live keys of "%s"
    publishable   %s
    secret        %s

`, info.ControlURL, info.Developer.Email, info.Developer.Password, info.Admin.Email, info.Admin.Password,
		info.LiveApp.Name, info.LiveApp.PublishableKey, info.LiveApp.SecretKey)
}
