package dataplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
	"github.com/wattfare/wattfare/sandbox"
)

// env is a running data plane on a fresh database, with the sandbox as its
// upstream (and a recording proxy in front of the sandbox, so tests can
// compare what the client got with what the upstream sent).
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	srv     *dataplane.Server
	dataURL string
	sandbox *recorder
	app     string
	key     string // the secret key
	keyID   string
	account string
	// reconnects counts the listener's connections (the first included).
	reconnects atomic.Int64
}

// recorder serves the sandbox and keeps the last body it sent per request id.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	sent map[string][]byte
	// override, when set, answers instead of the sandbox.
	override http.HandlerFunc
}

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) { w.buf.Write(p); return w.ResponseWriter.Write(p) }
func (w *teeWriter) Flush()                      { w.ResponseWriter.(http.Flusher).Flush() }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Wattfare-Request-Id")
	tw := &teeWriter{ResponseWriter: w}
	defer func() {
		rec.mu.Lock()
		rec.sent[id] = tw.buf.Bytes()
		rec.mu.Unlock()
	}()
	if rec.override != nil {
		rec.override(tw, r)
		return
	}
	rec.h.ServeHTTP(tw, r)
}

func (rec *recorder) body(id string) []byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.sent[id]
}

// setup's options are func(*dataplane.Config) and func(*spend.Config).
func setup(t *testing.T, opts ...any) *env {
	t.Helper()
	url := pgtest.NewURL(t)
	ctx := context.Background()
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{t: t, pool: pool}

	rec := &recorder{h: sandbox.Handler(), sent: map[string][]byte{}}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	e.sandbox = rec

	e.account = "acct_test"
	app := wattfare.NewAppID().String()
	sk := wattfare.NewSecretKey(wattfare.ModeTest)
	e.app, e.key, e.keyID = app, sk.String(), sk.ID.String()
	e.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ($1, 'payer@example.com', 'x')`, e.account)
	e.exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'test', $2)`, e.account, int64(wattfare.USD(20)))
	e.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_dev', 'dev@example.com', 'x')`)
	e.exec(`INSERT INTO apps (id, owner_id, name) VALUES ($1, 'acct_dev', 'Acme Chat')`, app)
	e.addKey(sk, "abcd")
	e.connect("u1", wattfare.USD(10))

	// Commits every 10 ms rather than 200: tests read usage right after a
	// request, and noCharge waits 50 ms for any charge to land.
	scfg := spend.Config{SpoolDir: t.TempDir(), LeaseTTL: 3 * time.Second, BatchInterval: 10 * time.Millisecond}
	for _, o := range opts {
		if f, ok := o.(func(*spend.Config)); ok {
			f(&scfg)
		}
	}
	engine, err := spend.New(scfg, postgres.NewLedger(pool))
	if err != nil {
		t.Fatal(err)
	}
	cfg := dataplane.Config{
		Catalog:      postgres.NewCatalog(pool),
		Spend:        dataplane.EngineSpender(engine),
		Upstreams:    []*dataplane.Upstream{{Name: "sandbox", BaseURL: up.URL + "/v1"}},
		ControlURL:   "http://control.test",
		MaxBodyBytes: 64 << 10,
	}
	for _, o := range opts {
		switch f := o.(type) {
		case func(*dataplane.Config):
			f(&cfg)
		case func(*spend.Config):
		default:
			t.Fatalf("setup: unknown option %T", o)
		}
	}
	srv, err := dataplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	lctx, cancel := context.WithCancel(ctx)
	connected := make(chan struct{}, 1)
	l := &postgres.Listener{URL: url, OnChange: srv.HandleChange, MaxBackoff: 100 * time.Millisecond, OnReconnect: func() {
		srv.HandleReconnect()
		e.reconnects.Add(1)
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
		cancel()
		<-ldone
	})
	return e
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// addKey stores sk as a test-mode secret key of the env's app.
func (e *env) addKey(sk wattfare.SecretKey, hint string) {
	e.t.Helper()
	hash := wattfare.HashSecretKey(sk.String())
	e.exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'test', $3, $4, $5)`,
		sk.ID.String(), e.app, hash[:], []byte(sk.PublicKey()), hint)
}

// connect stores a connection for the app's user with a monthly cap.
func (e *env) connect(user string, cap wattfare.Money) string {
	id := wattfare.NewID("conn_")
	e.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'test', $3, $4, $5)`,
		id, e.app, user, e.account, int64(cap))
	return id
}

// call sends a request to the data plane with the env's key.
func (e *env) call(method, path, user, body string) (*http.Response, []byte) {
	e.t.Helper()
	return e.callWith(e.key, method, path, user, body)
}

// callWith sends a request to the data plane with the secret key key.
func (e *env) callWith(key, method, path, user, body string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.dataURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if user != "" {
		req.Header.Set("Wattfare-User", user)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// charge is a settled request as the ledger recorded it.
type charge struct {
	Status           string
	PromptTokens     int64
	CompletionTokens int64
	Cost, Charged    wattfare.Money
}

// charge waits for the request's settlement to be committed (settlements are
// group-committed a few milliseconds later) and returns it.
func (e *env) charge(reqID string) charge {
	e.t.Helper()
	var c charge
	for i := 0; ; i++ {
		err := e.pool.QueryRow(context.Background(), `SELECT status, prompt_tokens, completion_tokens, cost, charged
			FROM usage_events WHERE request_id = $1`, reqID).Scan(&c.Status, &c.PromptTokens, &c.CompletionTokens, &c.Cost, &c.Charged)
		if err == nil {
			return c
		}
		if i > 2000 {
			e.t.Fatalf("request %s never settled: %v", reqID, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noCharge checks that a request left no usage event once every
// settlement before it committed.
func (e *env) noCharge(reqID string) {
	e.t.Helper()
	var n int
	time.Sleep(50 * time.Millisecond)
	e.pool.QueryRow(context.Background(), `SELECT count(*) FROM usage_events WHERE request_id = $1`, reqID).Scan(&n)
	if n != 0 {
		e.t.Errorf("request %s was charged", reqID)
	}
}

// captured is what the connection's period shows as captured.
func (e *env) captured(connUser string) wattfare.Money {
	var m int64
	e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(p.captured), 0) FROM connection_periods p
		JOIN connections c ON c.id = p.connection_id WHERE c.app_id = $1 AND c.app_user_id = $2`, e.app, connUser).Scan(&m)
	return wattfare.Money(m)
}

// errBody decodes an error envelope.
type errBody struct {
	Error struct {
		Message  string         `json:"message"`
		Type     string         `json:"type"`
		Code     string         `json:"code"`
		Param    *string        `json:"param"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
}

func decodeErr(t *testing.T, b []byte) errBody {
	t.Helper()
	var eb errBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("not an error envelope: %s", b)
	}
	return eb
}

// cost is what tokens of sandbox/echo cost ($1 / $2 per million).
func echoCost(prompt, completion int64) wattfare.Money {
	return wattfare.Price(1_000_000).Cost(prompt) + wattfare.Price(2_000_000).Cost(completion)
}
