// Package dataplane is Wattfare's OpenAI-compatible proxy: it authenticates
// a request from cache, admits it against the payer's budget, forwards it to
// the model's upstream, passes the response back byte for byte while metering
// it, and settles what it cost. Its request path imports neither pgx nor
// gqlgen: Postgres sits behind the Catalog interface and the spend engine.
package dataplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// Config is what the proxy needs.
type Config struct {
	Catalog   Catalog
	Spend     Spender
	Upstreams []*Upstream
	// ControlURL is the control plane's public URL: error metadata points
	// users there (connect_url) to connect or raise a cap.
	ControlURL string
	// MaxBodyBytes bounds request bodies (default 4 MiB); larger ones get
	// 413 request_too_large.
	MaxBodyBytes int
	// MaxHeaderBytes bounds the request header (default 8 KiB). It is also
	// each client connection's read buffer, so it costs memory per stream.
	MaxHeaderBytes int
	// UpstreamFirstByteTimeout bounds the wait for the upstream's first byte
	// (default 120 s); UpstreamIdleTimeout bounds each gap after it (default
	// 120 s). Neither bounds a whole stream.
	UpstreamFirstByteTimeout time.Duration
	UpstreamIdleTimeout      time.Duration
	// ClientIdleTimeout bounds how long a client may take to accept the next
	// chunk or send its request (default 60 s).
	ClientIdleTimeout time.Duration
	// KeyRateLimit and ConnectionRateLimit bound requests per second per
	// secret key and per connection (0: no limit), with bursts of RateBurst
	// (default 2 s worth). Over the limit: 429 rate_limited with Retry-After.
	KeyRateLimit        float64
	ConnectionRateLimit float64
	RateBurst           int
	// TestModeAnyUpstream lets test keys call non-sandbox models. By default
	// test mode is served by the sandbox only, so test credit never buys
	// real inference.
	TestModeAnyUpstream bool
	Logger              *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is the data plane.
type Server struct {
	cfg       Config
	log       *slog.Logger
	cache     *cachedCatalog
	upstreams map[string]*Upstream
	transport *transport
	flights   *flights
	srv       *fasthttp.Server
	stop      chan struct{}
	stopOnce  sync.Once
	draining  atomic.Bool // Shutdown has begun
	budgets   sync.Map    // connection id -> *budgetMemo
	nbudgets  atomic.Int64
	keyRate   *rateLimiter
	connRate  *rateLimiter
	// realClock is true when cfg.Now is time.Now: a request's clock is then
	// read once, in Handle, and passed down.
	realClock bool
}

// budgetMemo is a connection's remaining budget as the ledger last said,
// for the Wattfare-Budget-Remaining header. Reading the ledger on every
// request would cost more than the proxy, so the figure is refreshed in the
// background at most once a second; admission never reads it (it goes
// through the spend engine's leases).
type budgetMemo struct {
	at         atomic.Int64
	remaining  atomic.Int64
	refreshing atomic.Bool
}

// remaining returns the payer's remaining budget from its memo, loading
// the memo on a connection's first request; at is when the request arrived
// (time.Now's).
func (s *Server) remaining(ctx context.Context, p spend.Payer, at time.Time) (wattfare.Money, bool) {
	now := at.UnixNano()
	v, ok := s.budgets.Load(p.ConnectionID)
	if !ok {
		b, err := s.cfg.Spend.Budget(ctx, p)
		if err != nil {
			return 0, false
		}
		m := &budgetMemo{}
		m.at.Store(now)
		m.remaining.Store(int64(b.Remaining))
		if s.nbudgets.Add(1) > 100_000 {
			s.budgets.Clear()
			s.nbudgets.Store(0)
		}
		s.budgets.Store(p.ConnectionID, m)
		return b.Remaining, true
	}
	m := v.(*budgetMemo)
	if now-m.at.Load() > int64(time.Second) && m.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer m.refreshing.Store(false)
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if b, err := s.cfg.Spend.Budget(c, p); err == nil {
				m.remaining.Store(int64(b.Remaining))
				m.at.Store(time.Now().UnixNano())
			}
		}()
	}
	return wattfare.Money(m.remaining.Load()), true
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil || cfg.Spend == nil {
		return nil, errors.New("dataplane: Catalog and Spend are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 8 << 10
	}
	if cfg.UpstreamFirstByteTimeout <= 0 {
		cfg.UpstreamFirstByteTimeout = 120 * time.Second
	}
	if cfg.UpstreamIdleTimeout <= 0 {
		cfg.UpstreamIdleTimeout = 120 * time.Second
	}
	if cfg.ClientIdleTimeout <= 0 {
		cfg.ClientIdleTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	realClock := cfg.Now == nil
	if realClock {
		cfg.Now = time.Now
	}
	cc, err := newCachedCatalog(cfg.Catalog)
	if err != nil {
		return nil, err
	}
	t := &transport{firstByte: cfg.UpstreamFirstByteTimeout, idle: cfg.UpstreamIdleTimeout,
		flights: &flights{byID: make(map[string]*flight)}}
	s := &Server{
		cfg: cfg, log: cfg.Logger, cache: cc, transport: t,
		upstreams: make(map[string]*Upstream),
		flights:   t.flights,
		stop:      make(chan struct{}),
		realClock: realClock,
	}
	burst := func(rate float64) int {
		if cfg.RateBurst > 0 {
			return cfg.RateBurst
		}
		return max(1, int(2*rate))
	}
	s.keyRate = newRateLimiter(cfg.KeyRateLimit, burst(cfg.KeyRateLimit))
	s.connRate = newRateLimiter(cfg.ConnectionRateLimit, burst(cfg.ConnectionRateLimit))
	for _, u := range cfg.Upstreams {
		if err := u.init(t); err != nil {
			return nil, err
		}
		s.upstreams[u.Name] = u
	}
	s.srv = &fasthttp.Server{
		Handler:                       s.Handle,
		ErrorHandler:                  s.handleServerError,
		Name:                          "wattfare",
		MaxRequestBodySize:            cfg.MaxBodyBytes,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		ReadTimeout:                   cfg.ClientIdleTimeout,
		IdleTimeout:                   cfg.ClientIdleTimeout,
		WriteTimeout:                  time.Hour, // a whole-response bound; streams renew a shorter per-chunk deadline
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
	}
	go s.watchHolds()
	return s, nil
}

// Serve serves the data plane on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// (streams included) to finish, or ctx to end. Requests that arrive
// meanwhile on open client connections are answered 503 unavailable (with
// Connection: close) so that clients retry on another process.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	err := s.srv.ShutdownWithContext(ctx)
	s.Close()
	return err
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Close stops the background work of the server (not the listener).
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.cache.Close()
	})
}

// InFlight returns how many admitted requests have not finished.
func (s *Server) InFlight() int { return s.flights.count() }

// OpenConnections returns how many client connections the server holds.
func (s *Server) OpenConnections() int { return int(s.srv.GetOpenConnectionsCount()) }

var (
	hdrRequestID = "Wattfare-Request-Id"
	hdrRemaining = "Wattfare-Budget-Remaining"
	hdrUser      = "Wattfare-User"
	hdrGenID     = "X-Generation-Id"
)

// newRequestID returns "req_", the milliseconds since 2025 in 8 symbols
// and 80 random bits in 16, in the key alphabet, in one allocation. The
// time comes first, its symbols taken in byte order, so that ids sort by
// admission time: the usage ledger's primary key then grows at its right
// edge instead of touching a random page per settlement (and writing that
// page whole to the WAL after each checkpoint). The random bits alone keep
// ids unique, as in wattfare.NewID.
func newRequestID() string { return requestIDAt(time.Now()) }

func requestIDAt(now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	const ordered = "234567abcdefghijklmnopqrstuvwxyz" // the same symbols, in byte order
	var raw [10]byte
	rand.Read(raw[:])
	var out [4 + 8 + 16]byte
	copy(out[:], "req_")
	ms := uint64(max(0, now.UnixMilli()-requestIDEpoch))
	for j := 7; j >= 0; j-- {
		out[4+j] = ordered[ms&31]
		ms >>= 5
	}
	for i := 0; i < 2; i++ { // 2 groups of 5 bytes = 8 symbols each
		v := uint64(raw[i*5])<<32 | uint64(raw[i*5+1])<<24 | uint64(raw[i*5+2])<<16 | uint64(raw[i*5+3])<<8 | uint64(raw[i*5+4])
		for j := 7; j >= 0; j-- {
			out[12+i*8+j] = alphabet[v&31]
			v >>= 5
		}
	}
	return string(out[:])
}

// requestIDEpoch is 2025-01-01 UTC in Unix milliseconds: 40 bits of
// milliseconds from there last until 2059.
const requestIDEpoch = 1735689600000

// requestTime is cfg.Now's reading for a request that Handle saw arrive at
// now (time.Now's): now itself unless a test set the clock.
func (s *Server) requestTime(now time.Time) time.Time {
	if s.realClock {
		return now
	}
	return s.cfg.Now()
}

// Handle is the fasthttp handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	now := time.Now() // the request's one clock read (with cfg.Now the default)
	reqID := requestIDAt(now)
	ctx.Response.Header.Set(hdrRequestID, reqID)
	defer func() {
		// fasthttp does not recover handlers: one bad request must not
		// take the process and every stream on it down.
		if v := recover(); v != nil {
			s.log.Error("dataplane: panic", "request_id", reqID, "panic", v)
			ctx.Response.ResetBody()
			s.fail(ctx, &wattfare.Error{Code: wattfare.EINTERNAL}, 0)
		}
	}()
	if s.draining.Load() {
		// Shutting down: fasthttp has cancelled every request's context,
		// so a request read now could not reach the database. Send the
		// client to another process.
		ctx.SetConnectionClose()
		s.fail(ctx, errShuttingDown, 0)
		return
	}
	path := ctx.Path()
	switch {
	case ctx.IsPost() && string(path) == "/v1/chat/completions":
		s.proxy(ctx, reqID, "chat", now)
	case ctx.IsPost() && string(path) == "/v1/embeddings":
		s.proxy(ctx, reqID, "embeddings", now)
	case ctx.IsGet() && string(path) == "/v1/models":
		s.models(ctx, now)
	case ctx.IsGet() && string(path) == "/v1/budget":
		s.budget(ctx, now)
	case ctx.IsGet() && string(path) == "/healthz":
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("ok\n")
	default:
		s.fail(ctx, &wattfare.Error{Code: wattfare.EInvalidRequest, Message: fmt.Sprintf("no route for %s %s", ctx.Method(), path)}, 404)
	}
}

func (s *Server) handleServerError(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Header.Set(hdrRequestID, newRequestID())
	var code = wattfare.EInvalidRequest
	msg := "malformed request"
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		code, msg = wattfare.ERequestTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", s.cfg.MaxBodyBytes)
		lingerOversizedBody(ctx, s.cfg.MaxBodyBytes)
	} else if errors.As(err, new(*fasthttp.ErrSmallBuffer)) || bytes.Contains([]byte(err.Error()), []byte("small read buffer")) {
		code, msg = wattfare.ERequestTooLarge, "the request header is over the limit"
	} else if isTimeout(err) {
		msg = "the request was not received in time"
	}
	ctx.SetConnectionClose()
	s.fail(ctx, &wattfare.Error{Code: code, Message: msg}, 0)
}

// fail writes an error response before the first byte.
func (s *Server) fail(ctx *fasthttp.RequestCtx, e *wattfare.Error, status int) {
	if statusOf(e.Code) == 500 {
		// Not one of the data plane's codes (DESIGN.md's table): an
		// internal error, whose detail stays in the log.
		if s.draining.Load() {
			e = errShuttingDown
		} else {
			e = &wattfare.Error{Code: wattfare.EINTERNAL, Message: "internal error"}
		}
	}
	if status == 0 {
		status = statusOf(e.Code)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(s.errorJSON(e))
}

// caller is an authenticated request's key, app and payer.
type caller struct {
	key  wattfare.APIKey
	hash [32]byte
	app  wattfare.App
	conn wattfare.Connection
	user string
}

// authenticate checks the secret key (checksum first: a malformed key never
// reaches the database), then its app; now (cfg.Now's) decides expiry.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, c *caller, now time.Time) error {
	auth := ctx.Request.Header.Peek("Authorization")
	tok, ok := bytes.CutPrefix(auth, []byte("Bearer "))
	if !ok || len(tok) != wattfare.SecretKeyLen {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "missing or malformed secret key: send Authorization: Bearer sk_…")
	}
	// Parsed in place: sk (its Mode views the header's bytes) does not
	// outlive this call.
	sk, err := wattfare.ParseSecretKey(b2s(tok))
	if err != nil {
		return err
	}
	c.hash = sha256.Sum256(tok)
	key, kid, found, err := s.cache.Key(ctx, &c.hash)
	if err != nil {
		return err
	}
	if !found || subtle.ConstantTimeCompare(key.SecretSHA256[:], c.hash[:]) != 1 ||
		kid != sk.ID || key.Mode != sk.Mode {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "unknown secret key")
	}
	if !key.UsableAt(now) {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "this secret key was revoked or has expired")
	}
	c.key = key
	app, found, err := s.cache.App(ctx, key.AppID)
	if err != nil {
		return err
	}
	if !found {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "unknown secret key")
	}
	if app.SuspendedAt != nil {
		return wattfare.Errorf(wattfare.EAppSuspended, "this app is suspended")
	}
	c.app = app
	return nil
}

// connect resolves the payer from the Wattfare-User header.
func (s *Server) connect(ctx *fasthttp.RequestCtx, c *caller) error {
	user := ctx.Request.Header.Peek(hdrUser)
	if len(user) == 0 || len(user) > 256 {
		return &wattfare.Error{Code: wattfare.EInvalidRequest, Field: hdrUser,
			Message: "send the Wattfare-User header: your app's id for the user whose budget pays"}
	}
	// The header's bytes are viewed, not copied: the cache copies its key,
	// and the connection found carries the same user id.
	conn, found, err := s.cache.Connection(ctx, c.app.ID, c.key.Mode, b2s(user))
	if err != nil {
		return err
	}
	if !found {
		return &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected their AI budget to this app"}
	}
	if conn.Status != wattfare.ConnectionActive {
		return &wattfare.Error{Code: wattfare.EConnectionRevoked, Message: "this user revoked this app's access to their AI budget"}
	}
	c.conn = conn
	c.user = conn.AppUserID
	return nil
}

func (c *caller) payer() spend.Payer {
	return spend.Payer{
		ConnectionID: c.conn.ID, AccountID: c.conn.AccountID, AppID: c.app.ID, KeyID: c.key.ID,
		AppUserID: c.user, Mode: c.key.Mode, MonthlyCap: c.conn.MonthlyCap,
	}
}

// model finds the model a request names, as this key's mode may use it.
func (s *Server) model(ctx context.Context, id, kind string, mode wattfare.Mode) (*wattfare.Model, *Upstream, error) {
	ms, err := s.cache.Models(ctx)
	if err != nil {
		return nil, nil, err
	}
	m := ms.byID[id]
	if m == nil || !m.Enabled || m.Kind != kind {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q does not exist", id)}
	}
	if s.testModeForbids(mode, m.Upstream) {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("test keys can call sandbox models only, not %q", id)}
	}
	u := s.upstreams[m.Upstream]
	if u == nil {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q is not served here", id)}
	}
	return m, u, nil
}

// testModeForbids reports whether keys of mode may not call models of
// upstream: test mode is served by the sandbox only (unless
// TestModeAnyUpstream), so that test credit never buys real inference.
func (s *Server) testModeForbids(mode wattfare.Mode, upstream string) bool {
	return mode == wattfare.ModeTest && upstream != "sandbox" && !s.cfg.TestModeAnyUpstream
}

// minCompletionTokens is the least a clamped request may still produce.
const minCompletionTokens = 16

// proxy serves a chat or embeddings request; now is when Handle read the
// clock (time.Now).
func (s *Server) proxy(ctx *fasthttp.RequestCtx, reqID, endpoint string, now time.Time) {
	start := s.requestTime(now)
	var c caller
	if err := s.authenticate(ctx, &c, start); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if err := s.connect(ctx, &c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if !s.admitRate(ctx, &c, start) {
		return
	}
	body := ctx.Request.Body()
	var r Request
	var err error
	kind := "chat"
	if endpoint == "chat" {
		r, err = ParseChatRequest(body)
	} else {
		kind = "embedding"
		r, err = ParseEmbeddingsRequest(body)
		r.Stream = false
	}
	if err != nil {
		s.fail(ctx, toError(err), 0)
		return
	}
	m, up, err := s.model(ctx, r.Model, kind, c.key.Mode)
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}

	// The hold is the worst case: the prompt estimate and every token the
	// request may produce.
	promptCost := m.PromptPrice.Cost(r.PromptEstimate)
	maxOut := r.MaxTokens
	if maxOut == 0 {
		maxOut = int64(m.MaxOutputTokens)
	}
	adm := spend.Admission{RequestID: reqID, Amount: promptCost, At: start}
	if kind == "chat" {
		adm.Amount += m.CompletionPrice.Cost(maxOut)
		if r.MaxTokens == 0 && maxOut > minCompletionTokens {
			adm.MinAmount = promptCost + m.CompletionPrice.Cost(minCompletionTokens)
		}
	}
	payer := c.payer()
	hold, err := s.cfg.Spend.Admit(ctx, payer, adm)
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	var clamp int64
	if granted := hold.Amount(); kind == "chat" && granted < adm.Amount {
		clamp = maxOut
		if p := m.CompletionPrice; p > 0 {
			clamp = (int64(granted-promptCost) * 1000) / int64(p)
		}
		if clamp < 1 {
			hold.Release()
			s.fail(ctx, wattfare.Errorf(wattfare.ECapReached, "the budget left cannot cover this request"), 0)
			return
		}
		clamp = min(clamp, maxOut)
	}
	if rem, ok := s.remaining(ctx, payer, now); ok {
		var b [24]byte
		ctx.Response.Header.SetBytesV(hdrRemaining, rem.AppendDecimal(b[:0]))
	}

	// One allocation for the exchange and its flight.
	fx := &struct {
		ex exchange
		f  flight
	}{f: flight{id: reqID, keyID: c.key.ID, keyHash: c.hash, appID: c.app.ID, connID: c.conn.ID, hold: hold}}
	f := &fx.f
	s.flights.add(f)
	ex := &fx.ex
	*ex = exchange{
		s: s, f: f, hold: hold, model: m, up: up, req: r, endpoint: endpoint, start: start,
		promptCost: promptCost,
	}
	out, err := Rewrite(body, &r, m.UpstreamModel, clamp)
	if err != nil {
		ex.release()
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	ex.run(ctx, out)
}

// admitRate applies the per-key and per-connection rate limits, answering
// 429 when one is over; now is cfg.Now's.
func (s *Server) admitRate(ctx *fasthttp.RequestCtx, c *caller, now time.Time) bool {
	src := ""
	ok, wait := s.keyRate.allow(c.key.ID, now)
	if !ok {
		src = "key_rate"
	} else if ok, wait = s.connRate.allow(c.conn.ID, now); !ok {
		src = "connection_rate"
	}
	if ok {
		return true
	}
	secs := int(wait/time.Second) + 1
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(secs))
	s.fail(ctx, &wattfare.Error{Code: wattfare.ERateLimited, Message: "too many requests; retry after " + strconv.Itoa(secs) + " s",
		Metadata: map[string]any{"limit_source": src, "retry_after_seconds": secs}}, 0)
	return false
}

// logInternal logs an internal error (a database that does not answer, for
// instance) and turns it into 503 unavailable: the client may retry, and
// nothing about the failure leaks.
func (s *Server) logInternal(err error) error {
	if wattfare.ErrorCode(err) == wattfare.EINTERNAL {
		if s.draining.Load() && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			// Shutdown cancelled the request's context: expected, not news.
			return errShuttingDown
		}
		s.log.Error("dataplane", "err", err)
		return wattfare.Errorf(wattfare.EUnavailable, "Wattfare cannot serve this request right now; retry shortly")
	}
	return err
}

// errShuttingDown answers requests that reach a process while it stops.
var errShuttingDown = &wattfare.Error{Code: wattfare.EUnavailable,
	Message: "this Wattfare process is shutting down; retry the request"}

// HandleChange is the listener's callback: it drops what the change makes
// stale, tells the spend engine, and ends in-flight requests of a revoked
// key, suspended app or revoked connection.
func (s *Server) HandleChange(ev wattfare.ChangeEvent) {
	s.cache.Invalidate(ev)
	s.cfg.Spend.Invalidate(ev)
	var pick func(f *flight) bool
	switch ev.Entity {
	case wattfare.EntityKey:
		pick = func(f *flight) bool { return f.keyID == ev.ID }
	case wattfare.EntityApp:
		pick = func(f *flight) bool { return f.appID == ev.ID }
	case wattfare.EntityConnection:
		pick = func(f *flight) bool { return f.connID == ev.ID }
	default:
		return
	}
	hit := s.flights.match(pick)
	if len(hit) == 0 {
		return
	}
	go s.recheck(ev, hit)
}

// recheck reloads what an event changed and kills the flights it forbids.
func (s *Server) recheck(ev wattfare.ChangeEvent, hit []*flight) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var verdict *wattfare.Error
	switch ev.Entity {
	case wattfare.EntityKey:
		k, _, found, err := s.cache.Key(ctx, &hit[0].keyHash)
		if err != nil {
			s.log.Warn("dataplane: recheck key", "err", err)
			return
		}
		if !found || !k.UsableAt(s.cfg.Now()) {
			verdict = wattfare.Errorf(wattfare.EInvalidAPIKey, "this secret key was revoked")
		}
	case wattfare.EntityApp:
		a, found, err := s.cache.App(ctx, ev.ID)
		if err != nil {
			s.log.Warn("dataplane: recheck app", "err", err)
			return
		}
		if !found || a.SuspendedAt != nil {
			verdict = wattfare.Errorf(wattfare.EAppSuspended, "this app was suspended")
		}
	case wattfare.EntityConnection:
		c, found, err := s.cache.Connection(ctx, ev.AppID, ev.Mode, ev.AppUserID)
		if err != nil {
			s.log.Warn("dataplane: recheck connection", "err", err)
			return
		}
		if !found || c.Status != wattfare.ConnectionActive {
			verdict = wattfare.Errorf(wattfare.EConnectionRevoked, "the user revoked this app's access to their AI budget")
		}
	}
	if verdict == nil {
		return
	}
	for _, f := range hit {
		f.kill(verdict)
	}
}

// HandleReconnect is the listener's callback after it (re)connected:
// notifications may have been lost, so the cache is dropped and the spend
// engine re-validates its leases.
func (s *Server) HandleReconnect() {
	s.cache.Clear()
	s.cfg.Spend.Resync()
}

// watchHolds ends flights whose hold the spend engine closed (a revocation
// it learned of by itself, at a lease renewal for instance).
func (s *Server) watchHolds() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for _, f := range s.flights.match(func(f *flight) bool { return !f.killed.Load() }) {
			select {
			case <-f.hold.Done():
				f.kill(toError(f.hold.Err()))
			default:
			}
		}
	}
}

func (s *Server) models(ctx *fasthttp.RequestCtx, now time.Time) {
	var c caller
	if err := s.authenticate(ctx, &c, s.requestTime(now)); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	ms, err := s.cache.Models(ctx)
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	type pricing struct {
		Prompt     string `json:"prompt"`
		Completion string `json:"completion"`
	}
	type model struct {
		ID              string  `json:"id"`
		Object          string  `json:"object"`
		Created         int64   `json:"created"`
		OwnedBy         string  `json:"owned_by"`
		Kind            string  `json:"kind"`
		Pricing         pricing `json:"pricing"` // USD per token, OpenRouter style
		ContextLength   int     `json:"context_length"`
		MaxOutputTokens int     `json:"max_output_tokens"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range ms.list {
		if !m.Enabled || s.upstreams[m.Upstream] == nil || s.testModeForbids(c.key.Mode, m.Upstream) {
			continue
		}
		out.Data = append(out.Data, model{
			ID: m.ID, Object: "model", OwnedBy: m.Upstream, Kind: m.Kind,
			Pricing:       pricing{Prompt: perToken(m.PromptPrice), Completion: perToken(m.CompletionPrice)},
			ContextLength: m.ContextLength, MaxOutputTokens: m.MaxOutputTokens,
		})
	}
	b, _ := json.Marshal(out)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// perToken formats a price in dollars per token (pico-dollar precision).
func perToken(p wattfare.Price) string {
	s := strconv.FormatInt(int64(p), 10)
	for len(s) < 13 {
		s = "0" + s
	}
	whole, frac := s[:len(s)-12], s[len(s)-12:]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// budget answers GET /v1/budget: the payer's figures for this period, as
// wattfare.Budget defines them. spent_usd includes requests that settled a
// moment ago (read-your-writes on this process); held_usd is only what
// requests running now hold, never the idle reserve of budget leases;
// remaining_usd = min(cap_usd - spent_usd - held_usd, what the wallet has
// left on the same terms). The Wattfare-Budget-Remaining header of other
// responses is the same figure, refreshed at most once a second.
func (s *Server) budget(ctx *fasthttp.RequestCtx, now time.Time) {
	var c caller
	if err := s.authenticate(ctx, &c, s.requestTime(now)); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if err := s.connect(ctx, &c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	b, err := s.cfg.Spend.Budget(ctx, c.payer())
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	out, _ := json.Marshal(struct {
		Object    string         `json:"object"`
		User      string         `json:"user"`
		Mode      wattfare.Mode  `json:"mode"`
		Cap       wattfare.Money `json:"cap_usd"`       // the monthly cap the user approved for this app
		Spent     wattfare.Money `json:"spent_usd"`     // settled this period, including requests that just finished
		Held      wattfare.Money `json:"held_usd"`      // reserved by requests still running, for their worst case
		Remaining wattfare.Money `json:"remaining_usd"` // what the next request may spend: cap, spend, holds and wallet considered
		ResetsAt  time.Time      `json:"resets_at"`     // when the period ends and spent_usd starts again at 0
	}{"budget", c.user, c.key.Mode, b.Cap, b.Spent, b.Held, b.Remaining, b.ResetsAt})
	if v, ok := s.budgets.Load(c.conn.ID); ok {
		// The header of the next responses starts from this fresher figure.
		m := v.(*budgetMemo)
		m.remaining.Store(int64(b.Remaining))
		m.at.Store(time.Now().UnixNano())
	}
	ctx.Response.Header.Set(hdrRemaining, b.Remaining.String())
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}
