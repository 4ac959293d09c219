package spend

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// connState is what the engine knows of one connection: its current lease,
// the keys seen on it, and a cached refusal.
type connState struct {
	id    string
	appID string
	mode  wattfare.Mode

	mu       sync.Mutex // serializes ledger calls for this connection
	lease    atomic.Pointer[lease]
	gates    atomic.Pointer[[]*keyGate] // copy-on-write under mu
	denial   atomic.Pointer[denial]
	epoch    atomic.Uint64 // bumped by every invalidation touching the connection
	target   atomic.Int64  // lease size to ask for next
	renewing atomic.Bool
	lastGrnt atomic.Int64 // mono time of the last grant
	pressed  atomic.Int64 // mono time of the last lease_pressure announcement

	// held is what this process's open holds on the connection hold, and
	// walletHeld the same for every connection of its wallet (shared): the
	// figures Budget reports, which leave out a lease's idle reserve.
	held       atomic.Int64
	walletHeld *atomic.Int64
}

// keyGate is one API key's admission gate on one connection. Its signal is
// what the holds admitted through it watch: closed on revoke.
type keyGate struct {
	keyID      string
	keyExpires int64 // unix nanos; 0 when the key does not expire
	denied     atomic.Pointer[wattfare.Error]
	sig        atomic.Pointer[signal]
}

// unexpired reports whether the gate's key has not reached its expiry; the
// wall clock is read only for a key that expires.
func (g *keyGate) unexpired() bool {
	return g.keyExpires == 0 || time.Now().UnixNano() < g.keyExpires
}

// signal is closed (after err is set) when the holds that captured it must end.
type signal struct {
	ch    chan struct{}
	err   error
	watch watchers // Hold.OnDone callbacks
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// denial is a cached refusal. Status refusals (revoked, suspended, not
// connected) last until an invalidation; cap and wallet refusals only
// briefly and only for amounts at least as large.
type denial struct {
	err    *wattfare.Error
	amount wattfare.Money // 0: every amount
	until  int64          // mono; 0: until invalidated
}

func (d *denial) applies(now int64, amount wattfare.Money) bool {
	if d.until != 0 && now >= d.until {
		return false
	}
	return d.amount == 0 || amount >= d.amount
}

func (e *Engine) connFor(p Payer) *connState {
	if v, ok := e.conns.Load(p.ConnectionID); ok {
		return v.(*connState)
	}
	cs := &connState{id: p.ConnectionID, appID: p.AppID, mode: p.Mode}
	empty := []*keyGate{}
	cs.gates.Store(&empty)
	e.walletMu.Lock()
	cs.walletHeld = e.walletHeld(p.AccountID, p.Mode)
	v, _ := e.conns.LoadOrStore(p.ConnectionID, cs)
	e.walletMu.Unlock()
	return v.(*connState)
}

func (cs *connState) gate(keyID string) *keyGate {
	for _, g := range *cs.gates.Load() {
		if g.keyID == keyID {
			return g
		}
	}
	return nil
}

// setGate installs or refreshes the gate for keyID; cs.mu must be held.
func (cs *connState) setGate(keyID string, expires *time.Time) *keyGate {
	var exp int64
	if expires != nil {
		exp = expires.UnixNano()
	}
	old := *cs.gates.Load()
	for _, g := range old {
		if g.keyID == keyID && g.keyExpires == exp && g.denied.Load() == nil {
			return g
		}
	}
	g := &keyGate{keyID: keyID, keyExpires: exp}
	g.sig.Store(newSignal())
	next := make([]*keyGate, 0, len(old)+1)
	for _, o := range old {
		if o.keyID == keyID {
			g.sig.Store(o.sig.Load()) // holds admitted before keep their signal
			continue
		}
		next = append(next, o)
	}
	next = append(next, g)
	cs.gates.Store(&next)
	return g
}

// dropGate removes keyID's gate so that its next admission re-validates the
// key with the ledger; cs.mu must be held.
func (cs *connState) dropGate(keyID string) {
	old := *cs.gates.Load()
	next := make([]*keyGate, 0, len(old))
	for _, o := range old {
		if o.keyID != keyID {
			next = append(next, o)
		}
	}
	cs.gates.Store(&next)
}
