package controlplane

// webRoutes is a placeholder until its owner writes it.
func (s *Server) webRoutes() error { return nil }
