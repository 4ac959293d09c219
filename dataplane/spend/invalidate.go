package spend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/backoff"
)

// Invalidate handles a change notification from the listener. It never
// blocks the listener: events are queued and handled in order by one
// goroutine; if the queue overflows, a full Resync runs instead.
//
// For a connection, the connection's lease is surrendered (so the next
// admission re-checks status and cap with the ledger) and, when the
// connection is revoked, the holds in flight on it see Done close with
// connection_revoked. For an app, the same happens to every connection of
// the app when it is suspended. For a key that is revoked or expired, every
// lease of the key's app and mode is surrendered (the revoke waits for all
// of them) but only the holds admitted through that key end, with
// invalid_api_key; other keys get a fresh lease on their next request.
func (e *Engine) Invalidate(ev wattfare.ChangeEvent) {
	if ev.Entity == wattfare.EntityConnection {
		// A cached cap refusal must not answer for a connection that
		// changed: the next admission asks the ledger.
		if v, ok := e.conns.Load(ev.ID); ok {
			cs := v.(*connState)
			if d := cs.denial.Load(); d != nil && d.amount != 0 {
				cs.denial.CompareAndSwap(d, nil)
			}
		}
	}
	select {
	case e.events <- ev:
	default:
		e.Resync()
	}
}

// Resync re-validates every lease and key gate against the ledger, after
// the listener reconnected (notifications sent meanwhile are lost).
func (e *Engine) Resync() {
	select {
	case e.resync <- struct{}{}:
	default:
	}
}

func (e *Engine) invalidations() {
	for {
		select {
		case <-e.stop:
			return
		case ev := <-e.events:
			e.apply(ev)
		case <-e.resync:
			e.resyncAll()
		}
	}
}

func (e *Engine) apply(ev wattfare.ChangeEvent) {
	var affected []*connState
	surrender := false
	switch ev.Entity {
	case wattfare.EntityConnection:
		if v, ok := e.conns.Load(ev.ID); ok {
			affected = append(affected, v.(*connState))
		}
		surrender = true // the cap may have been lowered
	case wattfare.EntityApp:
		e.conns.Range(func(_, v any) bool {
			if cs := v.(*connState); cs.appID == ev.ID {
				affected = append(affected, cs)
			}
			return true
		})
	case wattfare.EntityKey:
		e.conns.Range(func(_, v any) bool {
			if cs := v.(*connState); cs.appID == ev.AppID && (ev.Mode == "" || cs.mode == ev.Mode) {
				affected = append(affected, cs)
			}
			return true
		})
	case wattfare.EntityLeasePressure:
		e.shrink(ev.ID)
		return
	case wattfare.EntityWallet:
		// Credits changed: forget cached wallet refusals. The wallet may
		// also have been frozen (a dispute) or taken below zero (a refund):
		// re-check its connections and surrender their leases, so that
		// what is leased stops promptly, as on a revoke, and the next
		// admission asks the ledger, which grants nothing to such a wallet.
		wh, _ := e.walletHolds.Load(ev.ID + "\x00" + string(ev.Mode))
		e.conns.Range(func(_, v any) bool {
			cs := v.(*connState)
			if d := cs.denial.Load(); d != nil && d.err.Code == wattfare.EBudgetExhausted {
				cs.denial.CompareAndSwap(d, nil)
			}
			if wh != nil && cs.walletHeld == wh.(*atomic.Int64) {
				affected = append(affected, cs)
			}
			return true
		})
		surrender = true
	default:
		return
	}
	if len(affected) == 0 {
		return
	}
	for _, cs := range affected {
		cs.epoch.Add(1)
	}
	e.revalidate(affected, surrender, ev)
}

// revalidate re-reads the status of every (connection, key) pair of the
// given connections. Refused ones get a cached denial, their holds' signals
// closed and their lease surrendered; with surrender, every lease is.
func (e *Engine) revalidate(conns []*connState, surrender bool, ev wattfare.ChangeEvent) {
	type pair struct {
		cs    *connState
		gate  *keyGate // nil: the connection alone
		probe bool     // the changed key itself, on a connection of its app
	}
	var pairs []pair
	var checks []wattfare.PayerCheck
	for _, cs := range conns {
		gates := *cs.gates.Load()
		leaseID := ""
		if l := cs.lease.Load(); l != nil {
			leaseID = l.id
		}
		pairs = append(pairs, pair{cs: cs})
		checks = append(checks, wattfare.PayerCheck{ConnectionID: cs.id, LeaseID: leaseID})
		for _, g := range gates {
			pairs = append(pairs, pair{cs: cs, gate: g})
			checks = append(checks, wattfare.PayerCheck{ConnectionID: cs.id, KeyID: g.keyID, LeaseID: leaseID})
		}
		if ev.Entity == wattfare.EntityKey && ev.ID != "" {
			// The key may never have been used on this connection here, or
			// only through other keys: its revoke still waits for this lease.
			pairs = append(pairs, pair{cs: cs, probe: true})
			checks = append(checks, wattfare.PayerCheck{ConnectionID: cs.id, KeyID: ev.ID, LeaseID: leaseID})
		}
	}
	var states []wattfare.PayerState
	var err error
	retry := backoff.Backoff{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond}
	for attempt := 0; attempt < 20; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
		states, err = e.ledger.CheckPayers(ctx, checks)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-e.stop:
			return
		case <-time.After(retry.Next()):
		}
	}
	if err != nil {
		// Cannot tell: surrender everything; admissions re-check with the
		// ledger (and answer unavailable while it is unreachable).
		e.log.Warn("revalidate after change", "err", err)
		for _, cs := range conns {
			if l := cs.lease.Load(); l != nil {
				e.closeLease(l)
			}
		}
		return
	}
	for i, p := range pairs {
		st := states[i]
		cs := p.cs
		if p.probe {
			// A revoked or expired key: the revoke returns once every lease
			// of the key's app and mode is gone, so surrender them all,
			// whichever keys keep them busy. Holds of other keys run on;
			// their next admission takes a new lease, and grants re-check
			// the key. Only the revoked key's holds end (through its gate).
			if st.Reason == wattfare.EInvalidAPIKey {
				if l := cs.lease.Load(); l != nil {
					e.closeLease(l)
				}
			}
			continue
		}
		if p.gate == nil {
			if st.Reason != "" {
				e.denyConn(cs, statusError(st.Reason), e.mono())
				continue
			}
			if d := cs.denial.Load(); d != nil {
				cs.denial.CompareAndSwap(d, nil)
			}
			if l := cs.lease.Load(); l != nil && (surrender || !st.LeaseOpen) {
				e.closeLease(l)
			}
			continue
		}
		if st.Reason == wattfare.EInvalidAPIKey {
			p.gate.deny(statusError(st.Reason))
			// A key revoke waits for every lease of the app: surrender.
			if l := cs.lease.Load(); l != nil {
				e.closeLease(l)
			}
		} else if st.Reason == "" && ev.Entity == wattfare.EntityKey && p.gate.keyID == ev.ID {
			// The key changed (e.g. rolled with an expiry): re-read it on
			// the next admission.
			cs.mu.Lock()
			cs.dropGate(p.gate.keyID)
			cs.mu.Unlock()
		}
	}
}

// denyConn refuses the connection until an invalidation lifts the refusal
// (or statusDenialTTL passes) and ends everything on it.
func (e *Engine) denyConn(cs *connState, werr *wattfare.Error, now int64) {
	cs.denial.Store(&denial{err: werr, until: now + int64(statusDenialTTL)})
	e.surrenderConn(cs, werr)
}

// deny refuses g's key until it is re-validated and ends the holds
// admitted through it.
func (g *keyGate) deny(werr *wattfare.Error) {
	g.denied.Store(werr)
	closeSignal(g, werr)
}

// surrenderConn ends everything on a connection that may no longer spend.
func (e *Engine) surrenderConn(cs *connState, werr *wattfare.Error) {
	if l := cs.lease.Load(); l != nil {
		e.closeLease(l)
	}
	for _, g := range *cs.gates.Load() {
		closeSignal(g, werr)
	}
}

// closeSignal ends the holds admitted through g and gives g a fresh signal
// for holds admitted after a later re-approval.
func closeSignal(g *keyGate, werr *wattfare.Error) {
	fresh := newSignal()
	old := g.sig.Swap(fresh)
	old.err = werr
	close(old.ch)
	old.fire()
}

func (e *Engine) resyncAll() {
	var all []*connState
	e.conns.Range(func(_, v any) bool {
		cs := v.(*connState)
		cs.epoch.Add(1)
		all = append(all, cs)
		return true
	})
	if len(all) == 0 {
		return
	}
	const chunk = 500
	for i := 0; i < len(all); i += chunk {
		e.revalidate(all[i:min(i+chunk, len(all))], false, wattfare.ChangeEvent{})
	}
}
