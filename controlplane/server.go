// Package controlplane is Wattfare's net/http server: the GraphQL API, the
// consent popup and browser session endpoints, and the embedded web app.
package controlplane

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph"
)

// Config is what the control plane needs to run.
type Config struct {
	// Services are the domain services it serves, every one required.
	// cmd/wattfare builds them (postgres.NewServices), with Wattfare's own
	// origins (OwnOrigins) reserved.
	Services wattfare.Services
	// PublicURL is the control plane's own origin as browsers see it, e.g.
	// "http://127.0.0.1:8080". The consent popup runs there.
	PublicURL string
	// DataURL is the data plane's base URL, shown to developers.
	DataURL string
	// Dev enables GraphQL introspection and the playground.
	Dev bool
	// GraphQLMetrics counts GraphQL operations (nil: not counted).
	GraphQLMetrics *graph.Metrics
	// TrustedProxies are the reverse proxies in front of the control plane
	// whose X-Forwarded-For is believed, for the sign-in limits' client
	// address (see clientAddr). Empty, the default, trusts none: the
	// connection's peer is the client.
	TrustedProxies []netip.Prefix
	// StripeWebhook verifies Stripe's webhook signatures (package stripe);
	// nil when Stripe is not configured, and POST /v1/webhooks/stripe then
	// answers 503.
	StripeWebhook WebhookVerifier
	Logger        *slog.Logger
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
	if err := checkServices(cfg.Services); err != nil {
		return nil, err
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
	s.paymentRoutes()
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

// checkServices refuses a configuration that lacks a service: the control
// plane fails at start, not at the first request that needs it.
func checkServices(s wattfare.Services) error {
	for name, svc := range map[string]any{
		"Accounts": s.Accounts, "Sessions": s.Sessions, "Apps": s.Apps, "Keys": s.Keys,
		"Connections": s.Connections, "Wallets": s.Wallets, "Usage": s.Usage, "Models": s.Models, "Consent": s.Consent, "Payments": s.Payments,
	} {
		if svc == nil {
			return fmt.Errorf("controlplane: no %s service in Config.Services", name)
		}
	}
	return nil
}
