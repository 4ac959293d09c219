// Package controlplane is Wattfare's net/http server: the GraphQL API, the
// consent popup and browser session endpoints, and the embedded web app.
package controlplane

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is what the control plane needs to run.
type Config struct {
	DB *pgxpool.Pool
	// PublicURL is the control plane's own origin as browsers see it, e.g.
	// "http://127.0.0.1:8080". The consent popup runs there.
	PublicURL string
	// DataURL is the data plane's base URL, shown to developers.
	DataURL string
	// Dev enables GraphQL introspection and the playground.
	Dev bool
	// LeaseWait bounds how long a revoke waits for data-plane leases to be
	// surrendered; leases expire by then anyway.
	LeaseWait time.Duration
	// TrustedProxies are the reverse proxies in front of the control plane
	// whose X-Forwarded-For is believed, for the sign-in limits' client
	// address (see clientAddr). Empty, the default, trusts none: the
	// connection's peer is the client.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// Server serves every control-plane route. Each area registers its routes
// from its own file: graphqlRoutes (graphql.go), consentRoutes (consent.go),
// webRoutes (web.go).
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LeaseWait == 0 {
		cfg.LeaseWait = 15 * time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if err := s.graphqlRoutes(); err != nil {
		return nil, err
	}
	if err := s.consentRoutes(); err != nil {
		return nil, err
	}
	if err := s.webRoutes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the server's handler with the protections every
// control-plane response gets: no framing anywhere (the consent popup must
// never be clickjacked), and cross-origin protection on every state-changing
// request.
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	// Browsers of other origins never get to POST here; server-to-server
	// callers (no Origin, no Sec-Fetch-Site) are let through by the stdlib.
	var h http.Handler = s.withDashboardSession(s.mux)
	h = cop.Handler(h)
	return securityHeaders(h)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Content-Security-Policy", "frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		next.ServeHTTP(w, r)
	})
}
