package spend

import (
	"context"

	"github.com/wattfare/wattfare"
)

var errClosed = &wattfare.Error{Code: wattfare.EUnavailable, Message: "the data plane is shutting down"}

func unavailable() *wattfare.Error {
	return &wattfare.Error{Code: wattfare.EUnavailable, Message: "Wattfare cannot admit this request safely right now; retry shortly"}
}

// Admit places a hold of a.Amount (or, when a.MinAmount > 0 and the full
// amount is not available, of as much as is available but at least
// a.MinAmount) on p's budget. Nearly every call is answered from the
// connection's lease in memory; the ledger is called only to grant or extend
// a lease. Errors are *wattfare.Error (see api.go).
func (e *Engine) Admit(ctx context.Context, p Payer, a Admission) (*Hold, error) {
	if e.closed.Load() {
		return nil, errClosed
	}
	if a.Quote.priced() {
		a.Amount, a.MinAmount = a.Quote.amounts(p.MonthlyCap)
	}
	if a.Amount < 0 || a.MinAmount < 0 {
		return nil, &wattfare.Error{Code: wattfare.EInvalidRequest, Message: "negative hold"}
	}
	if a.At.IsZero() {
		a.At = e.cfg.Now()
	}
	period := periodIndex(a.At)
	cs := e.connFor(p)
	now := e.mono()
	if g := cs.gate(p.KeyID); g != nil {
		sig := g.sig.Load()
		if d := g.denied.Load(); d != nil {
			return nil, d
		}
		if d := cs.denial.Load(); d != nil && d.applies(now, a.floor()) {
			return nil, d.err
		}
		if g.unexpired() {
			if l := cs.lease.Load(); l != nil && l.period == period && l.live(now) {
				if h := e.tryHold(cs, l, sig, p, a, now); h != nil {
					e.maybeRenew(cs, l, p.KeyID)
					return h, nil
				}
			}
		}
	}
	return e.admitSlow(ctx, cs, p, a, period)
}

// tryHold places a hold of a.Amount on l when l has that much spare, and
// returns nil otherwise. The hold is counted on l before it takes the
// amount, so that a concurrent closeLease waits for it.
func (e *Engine) tryHold(cs *connState, l *lease, sig *signal, p Payer, a Admission, now int64) *Hold {
	l.holds.Add(1)
	if !l.take(int64(a.Amount)) {
		e.holdDone(l)
		return nil
	}
	l.lastUse.Store(now)
	return e.newHold(cs, l, sig, p, a, a.Amount)
}

func (e *Engine) newHold(cs *connState, l *lease, sig *signal, p Payer, a Admission, amount wattfare.Money) *Hold {
	cs.addHeld(amount)
	return &Hold{e: e, cs: cs, lease: l, sig: sig, payer: p, requestID: a.RequestID, at: a.At, amount: amount}
}

// admitSlow asks the ledger for budget under the connection's lock, so that
// one grant serves every request waiting behind it.
func (e *Engine) admitSlow(ctx context.Context, cs *connState, p Payer, a Admission, period int32) (*Hold, error) {
	e.admitting.Add(1) // before the closed check below: Close sees one or the other
	defer e.admitting.Add(-1)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	periodStart := wattfare.PeriodStart(a.At)
	pressed := 0 // pressure tries so far
	for attempt := 0; attempt < 4+pressureTries; attempt++ {
		if e.closed.Load() {
			return nil, errClosed
		}
		now := e.mono()
		g := cs.gate(p.KeyID)
		if g != nil {
			if d := g.denied.Load(); d != nil {
				return nil, d
			}
		}
		if d := cs.denial.Load(); d != nil && d.applies(now, a.floor()) {
			return nil, d.err
		}
		cur := cs.lease.Load()
		if g != nil && g.unexpired() &&
			cur != nil && cur.period == period && cur.live(now) {
			// Another request may have renewed while we waited for the lock.
			if h := e.tryHold(cs, cur, g.sig.Load(), p, a, now); h != nil {
				return h, nil
			}
		}

		extend := cur != nil && cur.period == period && !cur.closed.Load()
		var have wattfare.Money
		id := newLeaseID()
		if extend {
			id = cur.id
			have = max(0, wattfare.Money(cur.avail.Load()))
		}
		need := max(0, a.Amount-have)
		minNeed := max(0, a.floor()-have)
		want := e.leaseTarget(cs, a.Amount, now)
		want = max(want, need)
		epoch := cs.epoch.Load()
		req := wattfare.LeaseRequest{
			LeaseID: id, ProcessID: e.cfg.ProcessID, ConnectionID: cs.id, KeyID: p.KeyID,
			Period: periodStart, Amount: want, Need: need, Min: minNeed, TTL: e.cfg.LeaseTTL,
		}
		start := e.mono()
		gctx, cancel := context.WithTimeout(ctx, e.cfg.GrantTimeout)
		grant, err := e.ledger.GrantLease(gctx, req)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("grant lease", "connection", cs.id, "err", err)
			}
			return nil, unavailable()
		}
		switch grant.Reason {
		case "":
		case wattfare.ReasonLeaseGone:
			if extend {
				e.closeLease(cur)
			}
			continue
		default:
			if cs.epoch.Load() != epoch {
				continue // status changed meanwhile: ask again
			}
			if e.pressure(cs, grant, pressed) {
				pressed++
				continue
			}
			return nil, e.refuse(cs, p.KeyID, grant, a, periodStart, now)
		}
		if cs.epoch.Load() != epoch {
			// An invalidation arrived while the grant was in flight: it may
			// predate a revoke. Give the budget back and ask again.
			if extend {
				cur.avail.Add(int64(grant.Granted))
				e.closeLease(cur)
			} else {
				l := &lease{id: id, cs: cs, period: period, periodStart: periodStart}
				l.closed.Store(true)
				l.avail.Store(closedOffset)
				e.queueRelease(l)
			}
			continue
		}
		cs.lastGrnt.Store(now)
		g = cs.setGate(p.KeyID, grant.KeyExpiresAt)
		sig := g.sig.Load()
		var l *lease
		if extend {
			l = cur
			l.avail.Add(int64(grant.Granted))
			e.extendExpiry(l, start)
		} else {
			l = &lease{id: id, cs: cs, period: period, periodStart: periodStart}
			l.avail.Store(int64(grant.Granted))
			e.extendExpiry(l, start)
			if cur != nil && cur.period > period {
				// A late request for an earlier period (admitted before
				// midnight): serve it from a one-off lease, closed after it.
				l.holds.Add(1)
				amt, ok := takeUpTo(l, a)
				if !ok {
					e.holdDone(l)
					e.closeLease(l)
					return nil, e.refuse(cs, p.KeyID, wattfare.LeaseGrant{Reason: wattfare.ECapReached, Cap: grant.Cap, Captured: grant.Captured}, a, periodStart, now)
				}
				e.closeLease(l)
				if cs.epoch.Load() != epoch {
					l.avail.Add(int64(amt))
					e.holdDone(l)
					continue
				}
				return e.newHold(cs, l, sig, p, a, amt), nil
			}
			if cur != nil {
				e.closeLease(cur)
			}
			cs.lease.Store(l)
			e.meters.acquired.Add(1)
		}
		l.lastUse.Store(now)
		l.holds.Add(1)
		if amt, ok := takeUpTo(l, a); ok {
			// The lease is in place and the hold has its signal: an
			// invalidation from now on finds and ends both. One that came
			// in between may have missed them: undo and ask again.
			if cs.epoch.Load() != epoch {
				l.avail.Add(int64(amt))
				e.holdDone(l)
				e.closeLease(l)
				continue
			}
			h := e.newHold(cs, l, sig, p, a, amt)
			e.rememberGrant(cs, grant)
			return h, nil
		}
		e.holdDone(l)
		// Spare was taken by concurrent fast-path admissions: try again.
	}
	return nil, unavailable()
}

// floor is the least hold the admission accepts.
func (a *Admission) floor() wattfare.Money {
	if a.MinAmount > 0 && a.MinAmount < a.Amount {
		return a.MinAmount
	}
	return a.Amount
}
