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
	h := graph.NewHandler(graph.HandlerConfig{
		DB:              s.cfg.DB,
		Sessions:        s.dashboardSessions(),
		Dev:             s.cfg.Dev,
		LeaseWait:       s.cfg.LeaseWait,
		Throttle:        newAuthThrottle(nil),
		ReservedOrigins: s.ownOrigins(),
		Logger:          s.log,
	})
	// GET carries queries only (gqlgen refuses mutations over GET); POST carries everything.
	s.mux.Handle("GET /graphql", h)
	s.mux.Handle("POST /graphql", h)
	if s.cfg.Dev {
		s.mux.Handle("GET /graphql/playground", playground.Handler("Wattfare", "/graphql"))
	}
	return nil
}

// ownOrigins are Wattfare's origins as browsers see them: the control
// plane's (the consent page's) and the data plane's. With no PublicURL the
// control plane's origin is whatever the request says, and cannot be known
// here.
func (s *Server) ownOrigins() []string {
	var out []string
	for _, raw := range []string{s.cfg.PublicURL, s.cfg.DataURL} {
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
