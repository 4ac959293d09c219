package controlplane

// graphqlRoutes is a placeholder until its owner writes it.
func (s *Server) graphqlRoutes() error { return nil }
