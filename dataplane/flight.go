package dataplane

import (
	"sync"
	"sync/atomic"

	"github.com/wattfare/wattfare"
)

// flight is one admitted request between its admission and the end of its
// response. The registry finds flights by key, app and connection when a
// change notification revokes one of them, and cuts their upstream
// connection so that they end with a typed error (DESIGN.md invariant 4).
type flight struct {
	id      string
	keyID   string
	keyHash [32]byte
	appID   string
	connID  string
	hold    Hold

	killed  atomic.Bool
	killErr atomic.Pointer[wattfare.Error]
	gotByte atomic.Bool
	ended   atomic.Bool
	// draining shortens the read deadline while the proxy checks whether
	// a finished stream's body ends at once, to keep its connection.
	draining atomic.Bool
	conn     atomic.Pointer[upConn]
}

// kill ends the flight with err: its upstream reads fail from now on.
func (f *flight) kill(err *wattfare.Error) {
	f.killErr.CompareAndSwap(nil, err)
	f.killed.Store(true)
	if c := f.conn.Load(); c != nil {
		if cf := c.f.Load(); cf == f {
			c.cut()
		}
	}
}

// killError is why the flight was killed.
func (f *flight) killError() *wattfare.Error {
	if e := f.killErr.Load(); e != nil {
		return e
	}
	return wattfare.Errorf(wattfare.EConnectionRevoked, "the request was stopped")
}

// flights is the registry of in-flight requests, by request id: change
// notifications search it, and upstream connections find the flight they
// serve in it by the id in the request's header (upConn.Write). A map under
// a mutex: a sync.Map allocated a node per request.
type flights struct {
	mu   sync.Mutex
	byID map[string]*flight
}

func (fs *flights) add(f *flight) {
	fs.mu.Lock()
	fs.byID[f.id] = f
	fs.mu.Unlock()
}

func (fs *flights) remove(f *flight) {
	f.ended.Store(true)
	fs.mu.Lock()
	if fs.byID[f.id] == f {
		delete(fs.byID, f.id)
	}
	fs.mu.Unlock()
}

// byRequestID returns the flight of the request with id, or nil.
func (fs *flights) byRequestID(id []byte) *flight {
	fs.mu.Lock()
	f := fs.byID[string(id)]
	fs.mu.Unlock()
	return f
}

// match returns the flights for which pick is true.
func (fs *flights) match(pick func(f *flight) bool) []*flight {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*flight
	for _, f := range fs.byID {
		if pick(f) {
			out = append(out, f)
		}
	}
	return out
}

func (fs *flights) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.byID)
}
