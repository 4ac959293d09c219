// Package dataplane is Wattfare's OpenAI-compatible proxy: it authenticates
// a request from cache, admits it against the payer's budget, forwards it to
// the model's upstream, passes the response back byte for byte while metering
// it, and settles what it cost. Its request path imports neither pgx nor
// gqlgen: Postgres sits behind the Catalog interface and the spend engine.
package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
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
	// (default 30 s: a hung upstream must not hold budget for long);
	// UpstreamIdleTimeout bounds each gap after it (default 120 s). Neither
	// bounds a whole stream.
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
	// TestModeAnyUpstream sends test keys' calls of non-sandbox models to
	// the model's own upstream, as live keys' are. By default the sandbox
	// simulates every catalog model for test keys (route), so that test
	// credit never buys real inference; Wattfare's own tests of real
	// upstreams, whose keys are test keys, set it.
	TestModeAnyUpstream bool
	// UpstreamKeys opens the connections' own upstream keys (sealed under
	// WATTFARE_ENCRYPTION_KEY) as the cache loads them, for the upstreams
	// with ConnectionKeys. Nil: connections carry none.
	UpstreamKeys KeyOpener
	Logger       *slog.Logger
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
	srv       *fasthttp.Server
	stop      chan struct{}
	stopOnce  sync.Once
	draining  atomic.Bool // Shutdown has begun
	keyRate   *rateLimiter
	connRate  *rateLimiter
	sims      sync.Map // catalog model id → *simulated, test mode's simulations
	metrics   *Metrics
	// realClock is true when cfg.Now is time.Now: a request's clock is then
	// read once, in Handle, and passed down.
	realClock bool
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
		cfg.UpstreamFirstByteTimeout = 30 * time.Second
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
	src := cfg.Catalog
	if cfg.UpstreamKeys != nil {
		src = keyedCatalog{Catalog: src, open: cfg.UpstreamKeys, log: cfg.Logger}
	}
	metrics := newMetrics()
	cc, err := newCachedCatalog(src, metrics)
	if err != nil {
		return nil, err
	}
	t := &transport{firstByte: cfg.UpstreamFirstByteTimeout, idle: cfg.UpstreamIdleTimeout}
	s := &Server{
		cfg: cfg, log: cfg.Logger, cache: cc, transport: t, metrics: metrics,
		upstreams: make(map[string]*Upstream),
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
func (s *Server) InFlight() int { return s.transport.calls.count() }

// OpenConnections returns how many client connections the server holds.
func (s *Server) OpenConnections() int { return int(s.srv.GetOpenConnectionsCount()) }

var (
	hdrRequestID = "Wattfare-Request-Id"
	hdrRemaining = "Wattfare-Budget-Remaining"
	hdrUser      = "Wattfare-User"
	hdrGenID     = "X-Generation-Id"
)

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
	case ctx.IsPost() && string(path) == "/v1/responses":
		s.proxy(ctx, reqID, "responses", now)
	case ctx.IsPost() && string(path) == "/v1/embeddings":
		s.proxy(ctx, reqID, "embeddings", now)
	case ctx.IsGet() && string(path) == "/v1/models":
		s.models(ctx, now)
		s.metrics.served("models", nil, ctx.Response.StatusCode(), now, false)
	case ctx.IsGet() && string(path) == "/v1/budget":
		s.budget(ctx, now)
		s.metrics.served("budget", nil, ctx.Response.StatusCode(), now, false)
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
	info := infoOf(e.Code)
	if status == 0 {
		status = info.status
	}
	s.metrics.failed(e, info)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(s.errorJSON(e))
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
