package controlplane

import (
	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/wattfare/wattfare/graph"
)

// graphqlRoutes serves the GraphQL API at /graphql (and, in dev, a
// playground at /graphql/playground).
func (s *Server) graphqlRoutes() error {
	h := graph.NewHandler(graph.HandlerConfig{
		DB:        s.cfg.DB,
		Sessions:  s.dashboardSessions(),
		Dev:       s.cfg.Dev,
		LeaseWait: s.cfg.LeaseWait,
		Throttle:  newAuthThrottle(nil),
		Logger:    s.log,
	})
	// GET carries queries only (gqlgen refuses mutations over GET); POST carries everything.
	s.mux.Handle("GET /graphql", h)
	s.mux.Handle("POST /graphql", h)
	if s.cfg.Dev {
		s.mux.Handle("GET /graphql/playground", playground.Handler("Wattfare", "/graphql"))
	}
	return nil
}
