package dataplane

import "github.com/wattfare/wattfare"

// HandleChange is the listener's callback: it drops what the change makes
// stale and tells the spend engine. The engine alone decides whether a
// revoked key, a suspended app or a revoked connection ends the requests in
// flight: it re-reads their status and closes their holds, whose OnDone
// cuts their upstreams (call.watch).
func (s *Server) HandleChange(ev wattfare.ChangeEvent) {
	s.cache.Invalidate(ev)
	s.cfg.Spend.Invalidate(ev)
}

// HandleReconnect is the listener's callback after it (re)connected:
// notifications may have been lost, so the cache is dropped and the spend
// engine re-validates its leases.
func (s *Server) HandleReconnect() {
	s.cache.Clear()
	s.cfg.Spend.Resync()
}
