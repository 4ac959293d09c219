package controlplane

// consentRoutes is a placeholder until its owner writes it.
func (s *Server) consentRoutes() error { return nil }
