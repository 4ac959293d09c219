package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/graph"
	"github.com/wattfare/wattfare/internal/metric"
	"github.com/wattfare/wattfare/postgres"
)

// The process's metrics: each plane this process runs registers its
// collectors and readiness checks here, and the metrics listener
// (WATTFARE_METRICS_ADDR, apart from the planes' own ports) serves them at
// /metrics, with /healthz (the process is up) and /readyz (every check
// passes: Postgres answers, the change listener is connected, the schema is
// current).
var (
	metricsRegistry = newMetricsRegistry()
	readyMu         sync.Mutex
	readyChecks     []readyCheck
)

type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

func newMetricsRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func addReadyCheck(name string, check func(ctx context.Context) error) {
	readyMu.Lock()
	defer readyMu.Unlock()
	readyChecks = append(readyChecks, readyCheck{name, check})
}

// ready runs every readiness check, each bounded by ctx.
func ready(ctx context.Context) error {
	readyMu.Lock()
	checks := append([]readyCheck(nil), readyChecks...)
	readyMu.Unlock()
	var errs []error
	for _, c := range checks {
		if err := c.check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// metricsHandler serves /metrics, /healthz and /readyz.
func metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metricsRegistry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// serveMetrics serves metricsHandler on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: metricsHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	slog.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startMetrics serves the metrics in the background when
// WATTFARE_METRICS_ADDR is set (`wattfare data` and `wattfare control`;
// `wattfare dev` serves them as one of its services).
func startMetrics(ctx context.Context) {
	if addr := envOr("WATTFARE_METRICS_ADDR", ""); addr != "" {
		go func() {
			if err := serveMetrics(ctx, addr); err != nil {
				slog.Error("metrics", "err", err)
			}
		}()
	}
}

// poolChecks registers the readiness checks every plane has: Postgres
// answers, and its schema is the one this build expects.
func poolChecks(pool *pgxpool.Pool) {
	addReadyCheck("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	addReadyCheck("schema", func(ctx context.Context) error {
		have, want, err := postgres.SchemaVersion(ctx, pool)
		if err != nil {
			return err
		}
		if have < want {
			return fmt.Errorf("the database is at migration %d, this build wants %d: run wattfare migrate", have, want)
		}
		return nil
	})
}

// dataCollector exports a data-plane process's figures, read when scraped
// from the atomics the request path records into.
type dataCollector struct {
	srv      *dataplane.Server
	engine   *spend.Engine
	listener *postgres.Listener
	pool     *pgxpool.Pool
}

func registerDataMetrics(srv *dataplane.Server, engine *spend.Engine, listener *postgres.Listener, pool *pgxpool.Pool) {
	if err := metricsRegistry.Register(&dataCollector{srv: srv, engine: engine, listener: listener, pool: pool}); err != nil {
		slog.Warn("metrics: data plane already registered", "err", err)
	}
	poolChecks(pool)
	addReadyCheck("listener", func(context.Context) error {
		if !listener.Stats().Connected {
			return errors.New("the change listener is not connected")
		}
		return nil
	})
}

var (
	dRequests   = prometheus.NewDesc("wattfare_data_requests_total", "Requests answered, by endpoint, HTTP status (0: other) and model (other: none known).", []string{"endpoint", "code", "model"}, nil)
	dLatency    = prometheus.NewDesc("wattfare_data_request_duration_seconds", "From a request's arrival to its whole answer (a stream: its end).", []string{"endpoint"}, nil)
	dTTFT       = prometheus.NewDesc("wattfare_data_time_to_first_token_seconds", "From a stream's arrival to its first bytes to the client.", []string{"endpoint"}, nil)
	dRefused    = prometheus.NewDesc("wattfare_data_refusals_total", "Answers with a budget or consent error, by the limit that tripped.", []string{"limit_source"}, nil)
	dErrors     = prometheus.NewDesc("wattfare_data_errors_total", "Error answers before the first byte, by error code.", []string{"code"}, nil)
	dSettled    = prometheus.NewDesc("wattfare_data_settled_total", "Requests settled, by usage status (ok, cut, revoked, upstream_error, client_closed, withheld).", []string{"status"}, nil)
	dCache      = prometheus.NewDesc("wattfare_data_cache_lookups_total", "Key, app and connection lookups in the data plane's cache.", []string{"result"}, nil)
	dLeaseReqs  = prometheus.NewDesc("wattfare_spend_lease_requests_total", "Lease requests to the ledger, by outcome.", []string{"outcome"}, nil)
	dLeases     = prometheus.NewDesc("wattfare_spend_leases_total", "Lease events: acquired (new), renewed (extended or grown), returned (released whole), shrunk (spare given back).", []string{"event"}, nil)
	dCommits    = prometheus.NewDesc("wattfare_spend_commits_total", "Ledger transactions of settlements and releases, by outcome.", []string{"outcome"}, nil)
	dCommitted  = prometheus.NewDesc("wattfare_spend_settlements_committed_total", "Settlements committed to the ledger.", nil, nil)
	dBatch      = prometheus.NewDesc("wattfare_spend_batch_size", "Settlements per committed batch.", nil, nil)
	dCommitLat  = prometheus.NewDesc("wattfare_spend_commit_duration_seconds", "Latency of a settlement batch's ledger transaction.", nil, nil)
	dSpool      = prometheus.NewDesc("wattfare_spend_spool_depth", "Settlements spooled on disk and not yet committed.", nil, nil)
	dHolds      = prometheus.NewDesc("wattfare_spend_open_holds", "Requests holding budget now.", nil, nil)
	dConns      = prometheus.NewDesc("wattfare_spend_connections", "Connections the engine keeps state for.", nil, nil)
	dOverruns   = prometheus.NewDesc("wattfare_spend_overruns_total", "Settlements that cost more than their hold and the lease's spare (charged only as far as the cap and wallet allow).", nil, nil)
	dOverrunUSD = prometheus.NewDesc("wattfare_spend_overrun_usd_total", "What overruns cost beyond their holds, in USD.", nil, nil)
	dListenUp   = prometheus.NewDesc("wattfare_listener_connected", "1 when the change listener's LISTEN is in place.", nil, nil)
	dListenConn = prometheus.NewDesc("wattfare_listener_connects_total", "Change-listener connections made (the first and each reconnection).", nil, nil)
	dNotices    = prometheus.NewDesc("wattfare_listener_notifications_total", "Change notifications received.", nil, nil)
	dLag        = prometheus.NewDesc("wattfare_listener_lag_seconds", "From a change's write in Postgres to its delivery to this process.", nil, nil)
	dPoolConns  = prometheus.NewDesc("wattfare_db_pool_connections", "Postgres pool connections, by state.", []string{"state"}, nil)
	dPoolWait   = prometheus.NewDesc("wattfare_db_pool_acquire_waits_total", "Pool acquisitions that had to wait for a connection.", nil, nil)
)

func (c *dataCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *dataCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.srv.Metrics()
	m.EachRequests(func(model, endpoint string, status int, n uint64) {
		ch <- prometheus.MustNewConstMetric(dRequests, prometheus.CounterValue, float64(n), endpoint, fmt.Sprint(status), model)
	})
	for _, e := range dataplane.Endpoints {
		if h := m.Latency(e).Snapshot(); h.Count > 0 {
			ch <- histogram(dLatency, h, e)
		}
		if h := m.TTFT(e).Snapshot(); h.Count > 0 {
			ch <- histogram(dTTFT, h, e)
		}
	}
	m.Refused.Each(func(src string, n uint64) { ch <- counter(dRefused, n, src) })
	m.Errors.Each(func(code string, n uint64) { ch <- counter(dErrors, n, code) })
	m.Settled.Each(func(st string, n uint64) { ch <- counter(dSettled, n, st) })
	hits, misses := m.Cache()
	ch <- counter(dCache, hits, "hit")
	ch <- counter(dCache, misses, "miss")

	s := c.engine.Stats()
	ch <- counter(dLeaseReqs, s.LeaseGrants, "granted")
	ch <- counter(dLeaseReqs, s.LeaseRefusals, "refused")
	ch <- counter(dLeaseReqs, s.LeaseErrors, "error")
	ch <- counter(dLeases, s.LeasesAcquired, "acquired")
	ch <- counter(dLeases, s.LeaseGrants-min(s.LeaseGrants, s.LeasesAcquired), "renewed")
	ch <- counter(dLeases, s.LeasesReturned, "returned")
	ch <- counter(dLeases, s.LeaseShrinks, "shrunk")
	ch <- counter(dCommits, s.Commits, "ok")
	ch <- counter(dCommits, s.CommitErrors, "error")
	ch <- counter(dCommitted, s.Settlements)
	ch <- histogram(dBatch, s.BatchSize.Snapshot())
	ch <- histogram(dCommitLat, s.CommitLatency.Snapshot())
	ch <- prometheus.MustNewConstMetric(dSpool, prometheus.GaugeValue, float64(s.SpoolDepth))
	ch <- prometheus.MustNewConstMetric(dHolds, prometheus.GaugeValue, float64(s.OpenHolds))
	ch <- prometheus.MustNewConstMetric(dConns, prometheus.GaugeValue, float64(s.Connections))
	ch <- counter(dOverruns, s.Overruns)
	ch <- prometheus.MustNewConstMetric(dOverrunUSD, prometheus.CounterValue, usd(s.Overrun))

	ls := c.listener.Stats()
	up := 0.0
	if ls.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(dListenUp, prometheus.GaugeValue, up)
	ch <- counter(dListenConn, ls.Connects)
	ch <- counter(dNotices, ls.Notifications)
	ch <- histogram(dLag, ls.Lag.Snapshot())
	collectPool(ch, c.pool)
}

func collectPool(ch chan<- prometheus.Metric, pool *pgxpool.Pool) {
	st := pool.Stat()
	ch <- prometheus.MustNewConstMetric(dPoolConns, prometheus.GaugeValue, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(dPoolConns, prometheus.GaugeValue, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(dPoolConns, prometheus.GaugeValue, float64(st.MaxConns()), "max")
	ch <- counter(dPoolWait, uint64(st.EmptyAcquireCount()))
}

func counter(d *prometheus.Desc, n uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
}

func histogram(d *prometheus.Desc, h metric.Snapshot, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, h.Buckets, labels...)
}

// usd is an amount as Prometheus takes it: a float of dollars, for graphs
// only (the ledger's figures stay exact).
func usd(m wattfare.Money) float64 { return float64(m.Nanos()) / 1e9 }

// controlCollector exports a control-plane process's figures: GraphQL
// operations, its Postgres pool, and the ledger's one figure that must stay
// zero, the budget captured beyond connections' caps this period (read at
// most every overshootEvery: it scans the period's rows).
type controlCollector struct {
	gql  *graph.Metrics
	pool *pgxpool.Pool

	mu        sync.Mutex
	readAt    time.Time
	over      int64
	overUSD   float64
	overError error
}

const overshootEvery = 30 * time.Second

var (
	cOps       = prometheus.NewDesc("wattfare_graphql_operations_total", "GraphQL operations answered, by type, name and outcome (ok, or the first error's code).", []string{"type", "operation", "outcome"}, nil)
	cOvershoot = prometheus.NewDesc("wattfare_ledger_cap_overshoot_connections", "Connections whose captured spend this period is over their monthly cap (must be 0).", nil, nil)
	cOverUSD   = prometheus.NewDesc("wattfare_ledger_cap_overshoot_usd", "Spend captured beyond monthly caps this period, in USD (must be 0).", nil, nil)
)

func registerControlMetrics(gql *graph.Metrics, pool *pgxpool.Pool) {
	if err := metricsRegistry.Register(&controlCollector{gql: gql, pool: pool}); err != nil {
		slog.Warn("metrics: control plane already registered", "err", err)
	}
	poolChecks(pool)
}

func (c *controlCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *controlCollector) Collect(ch chan<- prometheus.Metric) {
	c.gql.EachOperation(func(typ, name, outcome string, n uint64) { ch <- counter(cOps, n, typ, name, outcome) })
	collectPool(ch, c.pool)
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.readAt) >= overshootEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var over int64
		c.overError = c.pool.QueryRow(ctx, `
			SELECT count(*), coalesce(sum(p.captured - c.monthly_cap), 0)::bigint
			FROM connection_periods p JOIN connections c ON c.id = p.connection_id
			WHERE p.period = date_trunc('month', now() AT TIME ZONE 'UTC')::date AND p.captured > c.monthly_cap`).Scan(&c.over, &over)
		cancel()
		c.overUSD = usd(wattfare.Money(over))
		c.readAt = time.Now()
	}
	if c.overError != nil {
		ch <- prometheus.NewInvalidMetric(cOvershoot, c.overError)
		return
	}
	ch <- prometheus.MustNewConstMetric(cOvershoot, prometheus.GaugeValue, float64(c.over))
	ch <- prometheus.MustNewConstMetric(cOverUSD, prometheus.GaugeValue, c.overUSD)
}

func init() {
	// `wattfare dev` serves the metrics of both planes, which run in its
	// process, on one listener.
	registerDev("metrics", 20, func(ctx context.Context, env *devEnv) error { return serveMetrics(ctx, env.MetricsAddr) })
}
