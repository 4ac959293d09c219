package spend

import "sync"

// OnDone arranges for f to run, once, when the hold's payer loses the right
// to spend (Done closes: a revoked connection or key, a suspended app); at
// once if it already has. It returns a function that cancels the callback
// and reports whether it did so before f ran. The proxy uses it to cut the
// request's upstream: the hold's end is the one path by which a revocation
// stops a request in flight.
func (h *Hold) OnDone(f func()) (stop func() bool) {
	return h.sig.onClose(f)
}

// watchers are the callbacks registered on a signal.
type watchers struct {
	mu     sync.Mutex
	next   uint64
	fns    map[uint64]func()
	closed bool
}

func (s *signal) onClose(f func()) func() bool {
	w := &s.watch
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if w.fns == nil {
		w.fns = make(map[uint64]func())
	}
	w.next++
	id := w.next
	w.fns[id] = f
	w.mu.Unlock()
	return func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.fns[id]; !ok {
			return false
		}
		delete(w.fns, id)
		return true
	}
}

// fire runs the callbacks of a signal just closed.
func (s *signal) fire() {
	w := &s.watch
	w.mu.Lock()
	w.closed = true
	fns := w.fns
	w.fns = nil
	w.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
