package controlplane

import (
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/wattfare/wattfare/graph"
)

// graphqlRoutes serves the GraphQL API at /graphql (and, in dev, a
// playground at /graphql/playground).
func (s *Server) graphqlRoutes() error {
	svc := s.cfg.Services
	h := graph.NewHandler(graph.HandlerConfig{
		Accounts:    svc.Accounts,
		Apps:        svc.Apps,
		Keys:        svc.Keys,
		Connections: svc.Connections,
		Wallets:     svc.Wallets,
		Payments:    svc.Payments,
		Usage:       svc.Usage,
		Models:      svc.Models,
		Backstop:    svc.Backstop,
		Webhooks:    svc.Webhooks,
		Alerts:      svc.Alerts,
		Sessions:    s.dashboardSessions(),
		Dev:         s.cfg.Dev,
		Throttle:    newAuthThrottle(nil),
		Logger:      s.log,
		Metrics:     s.cfg.GraphQLMetrics,
	})
	// GET carries queries only (gqlgen refuses mutations over GET); POST carries everything.
	s.mux.Handle("GET /graphql", h)
	s.mux.Handle("POST /graphql", h)
	if s.cfg.Dev {
		s.mux.Handle("GET /graphql/playground", playground.Handler("Wattfare", "/graphql"))
	}
	return nil
}

// OwnOrigins are Wattfare's origins as browsers see them: the control
// plane's (the consent page's, at publicURL) and the data plane's (at
// dataURL). No app may register them (postgres.ServiceOptions'
// ReservedOrigins): the consent flow takes a page of a registered origin
// for the app's own. With no publicURL the control plane's origin is
// whatever the request says, and cannot be known here.
func OwnOrigins(publicURL, dataURL string) []string {
	var out []string
	for _, raw := range []string{publicURL, dataURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			continue
		}
		host := strings.ToLower(u.Host)
		if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
			host = strings.ToLower(u.Hostname())
		}
		out = append(out, u.Scheme+"://"+host)
	}
	return out
}
