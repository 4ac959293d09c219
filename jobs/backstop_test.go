package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/internal/openroutertest"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/openrouter"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// logBuffer collects every log line of the test's components, so that the
// test can look for secrets in them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// backstopEnv is a control plane's services and jobs, a data plane and a
// fixture OpenRouter on one database, with the backstop on.
type backstopEnv struct {
	t        *testing.T
	pool     *pgxpool.Pool
	fx       *openroutertest.Server
	logs     *logBuffer
	consent  *postgres.Consent
	conns    *postgres.Connections
	apps     *postgres.Apps
	models   *postgres.Models
	account  string
	app      string
	liveKey  string
	dataURL  string
	jobs     *jobs.Client
	ring     *keyring.Keyring
	log      *slog.Logger
	stopJobs func()
	answers  [][]byte // every body the data plane answered
	answerMu sync.Mutex
}

// backstopOptions change the env: Spend replaces the budget engine.
type backstopOptions struct {
	spender func(engine *spend.Engine) dataplane.Spender
}

func newBackstopEnv(t *testing.T, o backstopOptions) *backstopEnv {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewURL(t)
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(prev) })

	fx := openroutertest.New(t)
	// The fixture bills at the catalog's price of openai/gpt-4o-mini
	// (migration 011): $0.15 and $0.60 per million tokens.
	fx.SetPrices(150_000, 600_000)
	ring, err := keyring.New("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}

	e := &backstopEnv{t: t, pool: pool, fx: fx, logs: logs, ring: ring, log: log}
	jc := e.startJobs(openroutertest.ManagementKey)
	e.jobs = jc

	svc := postgres.NewServices(pool, postgres.ServiceOptions{LeaseWait: 5 * time.Second, Jobs: jc, Backstop: true})
	e.consent, e.conns, e.apps = svc.Consent.(*postgres.Consent), svc.Connections.(*postgres.Connections), svc.Apps.(*postgres.Apps)
	e.models = svc.Models.(*postgres.Models)

	e.account = "acct_payer"
	e.app = wattfare.NewAppID().String()
	sk := wattfare.NewSecretKey(wattfare.ModeLive)
	e.liveKey = sk.String()
	hash := wattfare.HashSecretKey(sk.String())
	e.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ($1, 'payer@example.com', 'x'), ('acct_dev', 'dev@example.com', 'x')`, e.account)
	e.exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'live', $2)`, e.account, int64(wattfare.USD(50)))
	e.exec(`INSERT INTO apps (id, owner_id, name) VALUES ($1, 'acct_dev', 'Acme Chat')`, e.app)
	e.exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'live', $3, $4, 'abcd')`,
		sk.ID.String(), e.app, hash[:], []byte(sk.PublicKey()))

	engine, err := spend.New(spend.Config{SpoolDir: t.TempDir(), LeaseTTL: 3 * time.Second, BatchInterval: 10 * time.Millisecond}, postgres.NewLedger(pool))
	if err != nil {
		t.Fatal(err)
	}
	spender := dataplane.EngineSpender(engine)
	if o.spender != nil {
		spender = o.spender(engine)
	}
	srv, err := dataplane.New(dataplane.Config{
		Catalog:      postgres.NewCatalog(pool),
		Spend:        spender,
		Upstreams:    []*dataplane.Upstream{{Name: "openrouter", BaseURL: fx.URL() + "/api/v1", APIKey: openroutertest.APIKey, ConnectionKeys: true}},
		ControlURL:   "http://control.test",
		UpstreamKeys: ring,
		Logger:       log,
	})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stopListener := context.WithCancel(ctx)
	connected := make(chan struct{}, 1)
	l := &postgres.Listener{URL: url, OnChange: srv.HandleChange, MaxBackoff: 100 * time.Millisecond, Logger: log, OnReconnect: func() {
		srv.HandleReconnect()
		select {
		case connected <- struct{}{}:
		default:
		}
	}}
	ldone := make(chan struct{})
	go func() { l.Run(lctx); close(ldone) }()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not connect")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	e.dataURL = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		srv.Shutdown(sctx)
		engine.Close(sctx)
		stopListener()
		<-ldone
	})
	return e
}

// startJobs runs a jobs client (a control plane's) with the backstop's
// workers on management key mgmt, stopping the one running before: a
// control plane restarted with a rolled WATTFARE_OPENROUTER_MANAGEMENT_KEY.
func (e *backstopEnv) startJobs(mgmt string) *jobs.Client {
	e.t.Helper()
	if e.stopJobs != nil {
		e.stopJobs()
	}
	reg := jobs.NewRegistry()
	(&jobs.UpstreamKeys{
		Store:       &postgres.UpstreamKeys{DB: e.pool},
		OpenRouter:  &openrouter.Keys{BaseURL: e.fx.URL() + "/api/v1", ManagementKey: mgmt},
		Ring:        e.ring,
		DeleteAfter: 300 * time.Millisecond,
		RetryBase:   20 * time.Millisecond,
		Logger:      e.log,
	}).Register(reg)
	// As in a control plane: the changes the backstop follows (approvals,
	// cap changes, revokes) also enqueue their webhook events.
	(&jobs.Webhooks{Store: &postgres.Webhooks{DB: e.pool, Ring: e.ring}, Ring: e.ring}).Register(reg)
	jc, err := jobs.New(e.pool, reg, jobs.Options{Logger: e.log, FetchPollInterval: 100 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	jctx, stop := context.WithCancel(context.Background())
	jdone := make(chan error, 1)
	go func() { jdone <- jc.Run(jctx) }()
	var once sync.Once
	e.stopJobs = func() { once.Do(func() { stop(); <-jdone }) }
	e.t.Cleanup(e.stopJobs)
	return jc
}

func (e *backstopEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// approve connects the app's user in live mode with cap, as the consent
// popup does.
func (e *backstopEnv) approve(user string, cap wattfare.Money) string {
	e.t.Helper()
	st, err := e.consent.Approve(context.Background(), wattfare.Approval{
		AppID: e.app, Mode: wattfare.ModeLive, AppUserID: user, AccountID: e.account, MonthlyCap: cap, IssuedAt: time.Now(),
	}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return st.ID
}

func (e *backstopEnv) chat(user, content string) (*http.Response, []byte) {
	e.t.Helper()
	body := `{"model":"openai/gpt-4o-mini","max_tokens":20,"messages":[{"role":"user","content":"` + content + `"}]}`
	req, _ := http.NewRequest("POST", e.dataURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.liveKey)
	req.Header.Set("Wattfare-User", user)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.answerMu.Lock()
	e.answers = append(e.answers, b)
	e.answerMu.Unlock()
	return resp, b
}

// eventually waits, up to 15 s, until cond holds.
func (e *backstopEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *backstopEnv) key(connID string) openroutertest.Key {
	k, _ := e.fx.KeyNamed(connID)
	return k
}

// noSecretLeaked checks every log line, every data-plane answer and the
// database's copy for the secrets of every key the fixture made.
func (e *backstopEnv) noSecretLeaked() {
	e.t.Helper()
	logs := e.logs.String()
	e.answerMu.Lock()
	answers := bytes.Join(e.answers, []byte("\n"))
	e.answerMu.Unlock()
	keys := e.fx.Keys()
	if len(keys) == 0 {
		e.t.Fatal("no key was created")
	}
	for _, k := range keys {
		if strings.Contains(logs, k.Secret) {
			e.t.Errorf("key %s's secret is in the logs", k.Name)
		}
		if bytes.Contains(answers, []byte(k.Secret)) {
			e.t.Errorf("key %s's secret is in an answer of the data plane", k.Name)
		}
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM upstream_keys WHERE position($1::bytea IN secret) > 0`, []byte(k.Secret)).Scan(&n); err != nil || n != 0 {
			e.t.Errorf("key %s's secret is stored in clear (%d rows, %v)", k.Name, n, err)
		}
	}
	if strings.Contains(logs, openroutertest.ManagementKey) {
		e.t.Error("the management key is in the logs")
	}
}

// TestBackstopKeyLifecycle follows one live connection's OpenRouter key:
// created at approval with the cap as its monthly limit, used for the
// connection's requests, patched when the cap changes, disabled by the time
// the revoke returns, deleted later; and it never shows a secret.
func TestBackstopKeyLifecycle(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	conn := e.approve("u1", wattfare.USD(5))

	e.eventually("the key is created", func() bool { return e.key(conn).Hash != "" })
	k := e.key(conn)
	if k.Limit == nil || *k.Limit != wattfare.USD(5) || k.LimitReset != "monthly" || !k.IncludeBYOKInLimit || k.Disabled {
		t.Fatalf("key %+v: want limit $5 reset monthly, BYOK included, enabled", k)
	}

	// The data plane sends the connection's requests on its own key, and
	// charges OpenRouter's usage.cost.
	e.eventually("a request is served on the connection's key", func() bool {
		resp, _ := e.chat("u1", "hello there")
		return resp.StatusCode == 200
	})
	k = e.key(conn)
	if k.Requests != 1 {
		t.Fatalf("the connection's key served %d requests, want 1", k.Requests)
	}
	var charged, cost int64
	e.eventually("the request settles", func() bool {
		e.pool.QueryRow(ctx, `SELECT coalesce(sum(charged), 0), coalesce(sum(cost), 0) FROM usage_events WHERE connection_id = $1`, conn).Scan(&charged, &cost)
		return charged > 0
	})
	if wattfare.Money(cost) != k.Usage {
		t.Fatalf("Wattfare metered $%s, OpenRouter's usage.cost was $%s", wattfare.Money(cost), k.Usage)
	}

	// A cap change patches the limit.
	if _, err := e.conns.SetCap(ctx, e.account, conn, wattfare.USD(3)); err != nil {
		t.Fatal(err)
	}
	e.eventually("the limit follows the cap", func() bool { l := e.key(conn).Limit; return l != nil && *l == wattfare.USD(3) })

	// A revoke returns once the key is disabled; the key is deleted later.
	if _, err := e.conns.Revoke(ctx, e.account, conn); err != nil && wattfare.ErrorCode(err) != wattfare.EPROPAGATIONPENDING {
		t.Fatal(err)
	}
	if k := e.key(conn); !k.Disabled {
		t.Fatalf("the revoke returned with the key enabled: %+v", k)
	}
	e.eventually("the disabled key is deleted", func() bool { return e.key(conn).Deleted })
	// OpenRouter deletes it while the job's transaction is still open: the
	// row says so, and drops the sealed secret, once it commits.
	e.eventually("the deletion is recorded and the secret dropped", func() bool {
		var deleted, secretKept bool
		e.pool.QueryRow(ctx, `SELECT deleted_at IS NOT NULL, secret IS NOT NULL FROM upstream_keys WHERE connection_id = $1`, conn).Scan(&deleted, &secretKept)
		return deleted && !secretKept
	})
	if resp, b := e.chat("u1", "after revoke"); resp.StatusCode != 403 {
		t.Fatalf("after revoke: %d %s", resp.StatusCode, b)
	}
	// Approving again gets a new key.
	e.approve("u1", wattfare.USD(2))
	e.eventually("a new key is created", func() bool { k := e.key(conn); return k.Hash != "" && !k.Deleted })
	e.noSecretLeaked()
}

// TestBackstopProvisioningRetried: OpenRouter is down when a live
// connection is approved. Its requests get 503 unavailable with
// Retry-After (never the shared key) until the job, retried with backoff,
// creates the key once OpenRouter is back.
func TestBackstopProvisioningRetried(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	e.fx.FailKeys(503)
	conn := e.approve("u2", wattfare.USD(1))
	e.eventually("a provisioning attempt fails", func() bool {
		var attempts int
		e.pool.QueryRow(ctx, `SELECT attempts FROM upstream_keys WHERE connection_id = $1`, conn).Scan(&attempts)
		return attempts >= 2
	})
	resp, b := e.chat("u2", "too early")
	var env struct {
		Error struct {
			Code     string         `json:"code"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
	}
	json.Unmarshal(b, &env)
	if resp.StatusCode != 503 || env.Error.Code != wattfare.EUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("before the key: %d %s (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	var n int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE connection_id = $1`, conn).Scan(&n)
	if n != 0 {
		t.Fatalf("a refused request was charged")
	}
	e.fx.FailKeys(0)
	e.eventually("the key is created once OpenRouter is back", func() bool { return e.key(conn).Hash != "" })
	e.eventually("the connection is served", func() bool { resp, _ := e.chat("u2", "now"); return resp.StatusCode == 200 })
	if e.key(conn).Requests != 1 {
		t.Fatalf("served on the connection's key %d times", e.key(conn).Requests)
	}
	e.noSecretLeaked()
}

// blindSpender admits everything: the budget engine's admission bypassed,
// as a defect in it would. Settlements are recorded and dropped.
type blindSpender struct {
	dataplane.Spender
	settled atomic.Int64
}

func (b *blindSpender) Admit(context.Context, spend.Payer, spend.Admission) (dataplane.Hold, error) {
	return &blindHold{b: b, done: make(chan struct{})}, nil
}

type blindHold struct {
	b    *blindSpender
	done chan struct{}
}

func (h *blindHold) Amount() wattfare.Money           { return wattfare.USD(1000) }
func (h *blindHold) Grow(wattfare.Money) bool         { return true }
func (h *blindHold) Done() <-chan struct{}            { return h.done }
func (h *blindHold) Err() error                       { return nil }
func (h *blindHold) OnDone(func()) (stop func() bool) { return func() bool { return true } }
func (h *blindHold) Checkpoint(*wattfare.Usage)       {}
func (h *blindHold) Settle(u wattfare.Usage)          { h.b.settled.Add(int64(u.Cost)) }
func (h *blindHold) Release()                         {}

// TestBackstopStopsSpendWithoutEngine is defence in depth: with Wattfare's
// own admission bypassed, the connection's OpenRouter key still stops
// spend at the cap, at most one request's cost over, and the data plane
// answers cap_reached from the upstream and raises the alarm.
func TestBackstopStopsSpendWithoutEngine(t *testing.T) {
	blind := &blindSpender{}
	e := newBackstopEnv(t, backstopOptions{spender: func(engine *spend.Engine) dataplane.Spender {
		blind.Spender = dataplane.EngineSpender(engine)
		return blind
	}})
	// $100 per million tokens: a request of 3 prompt and 20 completion
	// tokens costs $0.0023, so a $0.01 cap pays for four and a half.
	e.fx.SetPrices(wattfare.PricePerMillion(wattfare.USD(100)), wattfare.PricePerMillion(wattfare.USD(100)))
	cap := wattfare.Cent
	conn := e.approve("u3", cap)
	e.eventually("the key is created", func() bool { return e.key(conn).Hash != "" })

	// The data plane serves the connection once it has reloaded it with
	// its key; the first request served tells what one costs.
	e.eventually("a request is served on the connection's key", func() bool {
		resp, _ := e.chat("u3", "spend it all")
		return resp.StatusCode == 200
	})
	perRequest := e.key(conn).Usage
	var last []byte
	for i := 0; i < 100; i++ {
		resp, b := e.chat("u3", "spend it all")
		if resp.StatusCode != 200 {
			last = b
			break
		}
	}
	if last == nil {
		t.Fatalf("100 requests served past a $%s cap", cap)
	}
	var env struct {
		Error struct {
			Code     string         `json:"code"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal(last, &env); err != nil || env.Error.Code != wattfare.ECapReached || env.Error.Metadata["limit_source"] != "upstream" {
		t.Fatalf("refusal %s: want cap_reached from the upstream", last)
	}
	k := e.key(conn)
	if k.Usage > cap+perRequest {
		t.Fatalf("OpenRouter spent $%s on a $%s cap: more than one request ($%s) over", k.Usage, cap, perRequest)
	}
	if k.Usage < cap {
		t.Fatalf("stopped at $%s, below the $%s cap", k.Usage, cap)
	}
	if !strings.Contains(e.logs.String(), "alarm: the upstream refused a connection's key at its limit") {
		t.Fatal("no alarm was logged")
	}
	e.noSecretLeaked()
}

// TestBackstopSuspensionAndDrift: suspending the app disables its live
// connections' keys before the suspension returns, lifting it enables them
// again; the nightly reconciliation finds no drift while every request
// went through Wattfare, and finds and alarms on spend that did not.
func TestBackstopSuspensionAndDrift(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	conn := e.approve("u4", wattfare.USD(5))
	e.eventually("the key is created", func() bool { return e.key(conn).Hash != "" })
	e.eventually("a request is served", func() bool { resp, _ := e.chat("u4", "hi"); return resp.StatusCode == 200 })

	if _, err := e.apps.Suspend(ctx, "acct_dev", e.app, "abuse report"); err != nil && wattfare.ErrorCode(err) != wattfare.EPROPAGATIONPENDING {
		t.Fatal(err)
	}
	if !e.key(conn).Disabled {
		t.Fatal("the suspension returned with the key enabled")
	}
	if _, err := e.apps.Unsuspend(ctx, "acct_dev", e.app); err != nil {
		t.Fatal(err)
	}
	e.eventually("the key is enabled again", func() bool { return !e.key(conn).Disabled })
	e.eventually("the connection is served again", func() bool { resp, _ := e.chat("u4", "back"); return resp.StatusCode == 200 })
	var metered int64
	e.eventually("both requests settle", func() bool {
		var n int
		e.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(cost), 0) FROM usage_events WHERE connection_id = $1`, conn).Scan(&n, &metered)
		return n == 2
	})

	store := &postgres.UpstreamKeys{DB: e.pool}
	reconcile := func() wattfare.UpstreamKeyDrift {
		t.Helper()
		res, err := e.jobs.Insert(ctx, jobs.ReconcileUpstreamKeys{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if row, err := jobs.Await(wctx, e.jobs, res.Job.ID); err != nil || row.State != "completed" {
			t.Fatalf("reconcile: %v %v", row, err)
		}
		drift, err := store.Drift(ctx, 10)
		if err != nil || len(drift) != 1 {
			t.Fatalf("drift %+v, %v", drift, err)
		}
		return drift[0]
	}
	d := reconcile()
	if d.ConnectionID != conn || d.Metered != wattfare.Money(metered) || d.Upstream != wattfare.Money(metered) || d.Drift != 0 {
		t.Fatalf("reconciled %+v: want metered = upstream = $%s", d, wattfare.Money(metered))
	}
	if d.Limit == nil || *d.Limit != wattfare.USD(5) {
		t.Fatalf("limit %v", d.Limit)
	}

	// Someone spends on the key behind Wattfare's back.
	req, _ := http.NewRequest("POST", e.fx.URL()+"/api/v1/chat/completions", strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"leak"}]}`))
	req.Header.Set("Authorization", "Bearer "+e.key(conn).Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("direct call: %v %v", resp, err)
	}
	resp.Body.Close()
	d = reconcile()
	if d.Drift <= 0 || d.Upstream != e.key(conn).Usage {
		t.Fatalf("after unmetered spend: %+v, key usage $%s", d, e.key(conn).Usage)
	}
	if !strings.Contains(e.logs.String(), "alarm: an OpenRouter key spent more than Wattfare metered") {
		t.Fatal("no alarm for the drift")
	}
	e.noSecretLeaked()
}

// TestBackstopResponses: the Responses API goes to OpenRouter's
// /api/v1/responses on the connection's own key, whole and streamed, and
// is charged OpenRouter's usage.cost.
func TestBackstopResponses(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	conn := e.approve("u5", wattfare.USD(5))
	e.eventually("the key is created", func() bool { return e.key(conn).Hash != "" })
	post := func(body string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", e.dataURL+"/v1/responses", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.liveKey)
		req.Header.Set("Wattfare-User", "u5")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		e.answerMu.Lock()
		e.answers = append(e.answers, b)
		e.answerMu.Unlock()
		return resp, b
	}
	e.eventually("a whole response is served", func() bool {
		resp, _ := post(`{"model":"openai/gpt-4o-mini","input":"hello there","max_output_tokens":20}`)
		return resp.StatusCode == 200
	})
	resp, b := post(`{"model":"openai/gpt-4o-mini","input":[{"role":"user","content":[{"type":"input_text","text":"stream it"}]}],"stream":true,"max_output_tokens":20}`)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("event: response.completed")) {
		t.Fatalf("stream %d:\n%s", resp.StatusCode, b)
	}
	k := e.key(conn)
	if k.Requests != 2 {
		t.Fatalf("the connection's key served %d responses, want 2", k.Requests)
	}
	var n int
	var cost int64
	e.eventually("both settle", func() bool {
		e.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(cost), 0) FROM usage_events WHERE connection_id = $1 AND endpoint = 'responses'`, conn).Scan(&n, &cost)
		return n == 2
	})
	if wattfare.Money(cost) != k.Usage {
		t.Fatalf("metered $%s, OpenRouter's usage.cost was $%s", wattfare.Money(cost), k.Usage)
	}
	e.noSecretLeaked()
}

// TestBackstopCeilingNeverHitWithEngine is the other half of defence in
// depth: with Wattfare's engine on, a randomized load of concurrent whole
// and streamed requests, with and without output limits, runs several live
// connections to their caps, and OpenRouter's own ceiling never refuses a
// request: the engine always trips first (cap_reached from the
// connection's cap), and no key spends past its limit.
func TestBackstopCeilingNeverHitWithEngine(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	// The catalog prices the model as OpenRouter bills it, $100 per
	// million tokens each way: a request costs up to $0.0023.
	price := wattfare.PricePerMillion(wattfare.USD(100))
	e.fx.SetPrices(price, price)
	e.exec(`UPDATE models SET prompt_price = $1, completion_price = $1 WHERE id = 'openai/gpt-4o-mini'`, int64(price))

	type payer struct {
		user, conn string
		cap        wattfare.Money
	}
	var payers []payer
	for i := 0; i < 3; i++ {
		cap := wattfare.Cent * wattfare.Money(1+rng.IntN(3))
		user := "rand" + strconv.Itoa(i)
		payers = append(payers, payer{user: user, conn: e.approve(user, cap), cap: cap})
	}
	for _, p := range payers {
		e.eventually("every key is created", func() bool { return e.key(p.conn).Hash != "" })
	}
	var wg sync.WaitGroup
	var served, refused atomic.Int64
	for _, p := range payers {
		for w := 0; w < 2; w++ {
			wg.Add(1)
			r := rand.New(rand.NewPCG(uint64(seed), uint64(w+1)*1000+uint64(len(p.user))))
			go func() {
				defer wg.Done()
				capped := 0
				for i := 0; i < 200 && capped < 3; i++ {
					body := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"spend some of it"}]`
					if r.IntN(2) == 0 {
						body += `,"max_tokens":` + strconv.Itoa(1+r.IntN(30))
					}
					if r.IntN(2) == 0 {
						body += `,"stream":true`
					}
					body += "}"
					req, _ := http.NewRequestWithContext(ctx, "POST", e.dataURL+"/v1/chat/completions", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+e.liveKey)
					req.Header.Set("Wattfare-User", p.user)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == 200:
						served.Add(1)
					case resp.StatusCode == 503: // the connection not yet reloaded with its key
					case bytes.Contains(b, []byte(`"limit_source":"upstream"`)):
						t.Errorf("OpenRouter's ceiling refused a request: %s", b)
						return
					case resp.StatusCode == 402:
						refused.Add(1)
						capped++
					default:
						t.Errorf("%d %s", resp.StatusCode, b)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if served.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("served %d, refused %d: the run did not reach the caps", served.Load(), refused.Load())
	}
	for _, p := range payers {
		k := e.key(p.conn)
		if k.Refused != 0 {
			t.Errorf("%s: OpenRouter refused %d requests at its limit", p.user, k.Refused)
		}
		if k.Limit == nil || k.Usage > *k.Limit || k.Usage > p.cap {
			t.Errorf("%s: the key spent $%s against a limit of %v and a cap of $%s", p.user, k.Usage, k.Limit, p.cap)
		}
		var captured int64
		e.eventually("the connection's spend settles", func() bool {
			var n int
			e.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(charged), 0) FROM usage_events WHERE connection_id = $1`, p.conn).Scan(&n, &captured)
			return n == k.Requests
		})
		if wattfare.Money(captured) > p.cap {
			t.Errorf("%s: captured $%s over a cap of $%s", p.user, wattfare.Money(captured), p.cap)
		}
		// A request that completed is charged exactly OpenRouter's cost; a
		// stream cut at the cap is charged what was counted of it.
		var mismatched int
		e.pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE connection_id = $1 AND status = 'ok' AND charged <> cost`, p.conn).Scan(&mismatched)
		if mismatched != 0 {
			t.Errorf("%s: %d completed requests not charged OpenRouter's usage.cost", p.user, mismatched)
		}
	}
	t.Logf("%d requests served, %d refused at the caps by the engine", served.Load(), refused.Load())
}

// TestBackstopMarkupRepatchesLimits: a key's limit is the cap at upstream
// cost, cap / (1 + the smallest markup). A change of the global markup or
// of a model's own that moves the smallest one commits, in its own
// transaction, the job that patches every live connection's limit on
// OpenRouter at once (not at the nightly reconciliation); one that leaves
// it alone patches nothing.
func TestBackstopMarkupRepatchesLimits(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	a, b := e.approve("m1", wattfare.USD(5)), e.approve("m2", wattfare.USD(2))
	limits := func(want ...wattfare.Money) func() bool {
		return func() bool {
			for i, c := range []string{a, b} {
				if l := e.key(c).Limit; l == nil || *l != want[i] {
					return false
				}
			}
			return true
		}
	}
	e.eventually("both keys are created at their caps", limits(wattfare.USD(5), wattfare.USD(2)))
	resyncs := func() int {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'upstream_key.resync'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	patches := func() int {
		n := 0
		for _, c := range e.fx.KeyCalls() {
			if c.Method == "PATCH" {
				n++
			}
		}
		return n
	}

	// A global markup of 25 %: $5 and $2 of charges cost $4 and $1.60 upstream.
	if _, err := e.models.SetGlobalMarkup(ctx, "acct_dev", 2500); err != nil {
		t.Fatal(err)
	}
	if n := resyncs(); n != 1 {
		t.Fatalf("%d resync jobs committed with the global markup, want 1", n)
	}
	e.eventually("the limits follow the global markup", limits(wattfare.USD(4), wattfare.Money(1_600_000_000)))

	// One OpenRouter model sold at 10 %: the smallest markup is 10 %, and
	// the limits are rounded up to the nano-dollar ($5 / 1.1 = $4.545454545…).
	if _, err := e.models.SetMarkup(ctx, "acct_dev", "openai/gpt-4o-mini", ptr(wattfare.Markup(1000))); err != nil {
		t.Fatal(err)
	}
	e.eventually("the limits follow the model's markup", limits(wattfare.Money(4_545_454_546), wattfare.Money(1_818_181_819)))

	// Another model at 50 % moves nothing: no job, no call to OpenRouter.
	before, jobsBefore := patches(), resyncs()
	if _, err := e.models.SetMarkup(ctx, "acct_dev", "openai/gpt-4o", ptr(wattfare.Markup(5000))); err != nil {
		t.Fatal(err)
	}
	if resyncs() != jobsBefore {
		t.Fatal("a markup above the smallest one re-synced the keys")
	}

	// Back to no markup anywhere: the limits are the caps again.
	if _, err := e.models.SetMarkup(ctx, "acct_dev", "openai/gpt-4o-mini", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.models.SetGlobalMarkup(ctx, "acct_dev", 0); err != nil {
		t.Fatal(err)
	}
	e.eventually("the limits are the caps again", limits(wattfare.USD(5), wattfare.USD(2)))
	if got := patches() - before; got < 2 {
		t.Fatalf("%d patches after the markups returned to zero, want one per key at least", got)
	}
	e.noSecretLeaked()
}

func ptr[T any](v T) *T { return &v }

// TestBackstopManagementKeyRoll: the management key is rolled (a new one
// made, the control plane restarted on it, the old one deleted); the
// connections' keys, the account's, keep serving, and the new management
// key patches and disables them.
func TestBackstopManagementKeyRoll(t *testing.T) {
	e := newBackstopEnv(t, backstopOptions{})
	ctx := context.Background()
	conn := e.approve("u6", wattfare.USD(5))
	e.eventually("the key is created", func() bool { return e.key(conn).Hash != "" })
	e.eventually("a request is served", func() bool { resp, _ := e.chat("u6", "before"); return resp.StatusCode == 200 })

	const rolled = "sk-or-v1-fixture-management-key-2"
	e.fx.AddManagementKey(rolled)
	e.startJobs(rolled)
	e.fx.RevokeManagementKey(openroutertest.ManagementKey)

	if resp, b := e.chat("u6", "after the roll"); resp.StatusCode != 200 {
		t.Fatalf("the connection's key stopped with the management key: %d %s", resp.StatusCode, b)
	}
	if _, err := e.conns.SetCap(ctx, e.account, conn, wattfare.USD(2)); err != nil {
		t.Fatal(err)
	}
	e.eventually("the new management key patches the limit", func() bool { l := e.key(conn).Limit; return l != nil && *l == wattfare.USD(2) })
	if _, err := e.conns.Revoke(ctx, e.account, conn); err != nil && wattfare.ErrorCode(err) != wattfare.EPROPAGATIONPENDING {
		t.Fatal(err)
	}
	if !e.key(conn).Disabled {
		t.Fatal("the revoke returned with the key enabled")
	}
	if strings.Contains(e.logs.String(), rolled) {
		t.Fatal("the rolled management key is in the logs")
	}
	e.noSecretLeaked()
}
