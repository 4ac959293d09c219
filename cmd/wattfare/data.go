package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/postgres"
)

func init() {
	register("data", "run the data plane (OpenAI-compatible proxy)", func(ctx context.Context, args []string) error {
		url := databaseURL()
		pool, err := postgres.Open(ctx, url)
		if err != nil {
			return err
		}
		defer pool.Close()
		startMetrics(ctx)
		return serveData(ctx, dataOptions{
			Addr:        envOr("WATTFARE_DATA_ADDR", "127.0.0.1:8787"),
			DatabaseURL: url,
			ControlURL:  envOr("WATTFARE_CONTROL_URL", "http://127.0.0.1:8080"),
			SandboxURL:  os.Getenv("WATTFARE_SANDBOX_URL"),
		}, pool)
	})
	registerDev("data", 40, func(ctx context.Context, env *devEnv) error {
		return serveData(ctx, dataOptions{
			Addr:        env.DataAddr,
			DatabaseURL: env.DatabaseURL,
			ControlURL:  "http://" + env.ControlAddr,
			SandboxURL:  "http://" + env.SandboxAddr + "/v1",
		}, env.Pool)
	})
}

type dataOptions struct {
	Addr        string
	DatabaseURL string
	ControlURL  string
	// SandboxURL is the sandbox's API root; when empty the sandbox runs in
	// this process.
	SandboxURL string
}

// upstreamsFromEnv builds the upstreams: the sandbox always, OpenRouter and
// an OpenAI-compatible server when their base URLs (or, for OpenRouter, its
// key) are set.
//
// With the backstop configured (WATTFARE_OPENROUTER_MANAGEMENT_KEY), live
// connections call OpenRouter with their own keys (ConnectionKeys);
// WATTFARE_OPENROUTER_API_KEY then serves test connections only, when
// TestModeAnyUpstream sends them there.
func upstreamsFromEnv(sandboxURL string) []*dataplane.Upstream {
	ups := []*dataplane.Upstream{{Name: "sandbox", BaseURL: sandboxURL}}
	if key := os.Getenv("WATTFARE_OPENROUTER_API_KEY"); key != "" || os.Getenv("WATTFARE_OPENROUTER_BASE_URL") != "" || backstopOn() {
		ups = append(ups, &dataplane.Upstream{
			Name: "openrouter", BaseURL: openRouterBaseURL(), APIKey: key, ConnectionKeys: backstopOn(),
			Headers: map[string]string{"X-Title": "Wattfare"},
		})
	}
	if base := os.Getenv("WATTFARE_OPENAI_BASE_URL"); base != "" {
		ups = append(ups, &dataplane.Upstream{Name: "openai", BaseURL: base, APIKey: os.Getenv("WATTFARE_OPENAI_API_KEY")})
	}
	return ups
}

// serveData runs the data plane until ctx ends, then shuts down gracefully:
// stop accepting, finish in-flight requests, flush settlements and return
// leases.
func serveData(ctx context.Context, o dataOptions, pool *pgxpool.Pool) error {
	log := slog.Default()
	if o.SandboxURL == "" {
		url, stop, err := startInProcessSandbox()
		if err != nil {
			return err
		}
		defer stop()
		o.SandboxURL = url
	}
	_, ring, err := backstopFromEnv()
	if err != nil {
		return err
	}
	var opener dataplane.KeyOpener
	if ring != nil {
		opener = ring
	}
	engine, err := spend.New(spendConfigFromEnv(log), postgres.NewLedger(pool))
	if err != nil {
		return fmt.Errorf("spend engine: %w", err)
	}
	srv, err := dataplane.New(dataplane.Config{
		Catalog:             postgres.NewCatalog(pool),
		Spend:               dataplane.EngineSpender(engine),
		Upstreams:           upstreamsFromEnv(o.SandboxURL),
		ControlURL:          o.ControlURL,
		KeyRateLimit:        envFloat("WATTFARE_KEY_RATE_LIMIT"),
		ConnectionRateLimit: envFloat("WATTFARE_CONNECTION_RATE_LIMIT"),
		UpstreamKeys:        opener,
		Logger:              log,
	})
	if err != nil {
		return err
	}
	lctx, stopListener := context.WithCancel(context.Background())
	defer stopListener()
	listener := &postgres.Listener{URL: o.DatabaseURL, OnChange: srv.HandleChange, OnReconnect: srv.HandleReconnect, Logger: log}
	go listener.Run(lctx)
	registerDataMetrics(srv, engine, listener, pool)

	if addr := os.Getenv("WATTFARE_PPROF_ADDR"); addr != "" {
		// Profiling for benchmarks, on an address of its own (never the proxy's).
		go http.ListenAndServe(addr, nil)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("data plane listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if cerr := engine.Close(sctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	stopListener()
	log.Info("data plane stopped")
	return err
}

// envFloat reads a number from the environment; unset or malformed is 0.
// spendConfigFromEnv reads the spend engine's settings, so that every way
// of starting a data plane (wattfare data, wattfare dev, tests running the
// binary) can name its process and place its spool without more flags:
// WATTFARE_PROCESS_ID, WATTFARE_SPOOL_DIR, WATTFARE_LEASE_TTL and
// WATTFARE_BATCH_INTERVAL (Go durations, "10s", "200ms").
func spendConfigFromEnv(log *slog.Logger) spend.Config {
	return spend.Config{
		Logger:        log,
		ProcessID:     os.Getenv("WATTFARE_PROCESS_ID"),
		SpoolDir:      os.Getenv("WATTFARE_SPOOL_DIR"),
		LeaseTTL:      envDuration("WATTFARE_LEASE_TTL"),
		BatchInterval: envDuration("WATTFARE_BATCH_INTERVAL"),
	}
}

// envDuration reads a Go duration; 0 (the default) when unset or malformed.
func envDuration(key string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(key))
	return max(0, d)
}

func envFloat(key string) float64 {
	f, _ := strconv.ParseFloat(os.Getenv(key), 64)
	return f
}

func startInProcessSandbox() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go serveSandboxOn(ctx, ln)
	return "http://" + ln.Addr().String() + "/v1", cancel, nil
}
