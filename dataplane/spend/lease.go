package spend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// lease is a slice of one connection's budget for one period, held by this
// process. avail is what new holds may take; a closed lease admits nothing
// (avail is pushed far below zero) and is released once its holds end.
type lease struct {
	id          string
	cs          *connState
	period      int32 // year*12 + month-1
	periodStart time.Time
	avail       atomic.Int64
	holds       atomic.Int64
	expires     atomic.Int64 // mono deadline for admissions
	lastUse     atomic.Int64 // mono
	closed      atomic.Bool
	queued      atomic.Bool // release handed to the batcher
	closedAt    atomic.Int64
}

const closedOffset = -(int64(1) << 61)

func periodIndex(t time.Time) int32 {
	y, m, _ := t.UTC().Date()
	return int32(y)*12 + int32(m) - 1
}

// take reserves n from the lease if it has that much spare.
func (l *lease) take(n int64) bool {
	for {
		v := l.avail.Load()
		if v < n {
			return false
		}
		if l.avail.CompareAndSwap(v, v-n) {
			return true
		}
	}
}

func (l *lease) live(now int64) bool {
	return !l.closed.Load() && now < l.expires.Load()
}

// close stops admissions on the lease; it is released once no hold is open
// on it (or after RevokeGrace, by the maintenance loop).
func (e *Engine) closeLease(l *lease) {
	if l.closed.Swap(true) {
		return
	}
	l.avail.Add(closedOffset)
	l.closedAt.Store(e.mono())
	l.cs.lease.CompareAndSwap(l, nil)
	if l.holds.Load() == 0 {
		e.queueRelease(l)
		return
	}
	e.closingMu.Lock()
	e.closing[l] = struct{}{}
	e.closingMu.Unlock()
}

// holdDone is called once per hold when it settles, is released or moves.
func (e *Engine) holdDone(l *lease) {
	if l.holds.Add(-1) == 0 && l.closed.Load() {
		e.queueRelease(l)
	}
}

func (e *Engine) queueRelease(l *lease) {
	if l.queued.Swap(true) {
		return
	}
	e.closingMu.Lock()
	delete(e.closing, l)
	e.closingMu.Unlock()
	e.batch.release(l.id)
}

func newLeaseID() string { return wattfare.NewID("lease_") }

// pressureWait is how long a refused admission first waits for other
// processes to give back the spare of their leases on the connection.
const pressureWait = 50 * time.Millisecond

// pressureTries is how many times a refused admission asks the ledger again
// after announcing pressure, waiting pressureWait, then twice as long, and
// so on (50+100+200 ms at most): the other processes' shrinks are a
// notification and a commit away, which a loaded machine may take longer
// than 50 ms to deliver.
const pressureTries = 3

// pressure announces that the connection's budget is short while leases
// hold some of it (try 0), and waits for the spare to come back. It reports
// whether the caller should ask the ledger again. Announcements are
// rate-limited per connection: only the request that announced waits, and
// it waits again (try 1, 2) only while other leases still hold budget.
func (e *Engine) pressure(cs *connState, g wattfare.LeaseGrant, try int) bool {
	if g.Reason != wattfare.ECapReached && g.Reason != wattfare.EBudgetExhausted {
		return false
	}
	if g.Held <= 0 || g.Reason == wattfare.EBudgetExhausted && g.WalletAvailable+g.Held <= 0 {
		return false
	}
	if try >= pressureTries {
		return false
	}
	if try > 0 {
		time.Sleep(pressureWait << try)
		return true
	}
	now := e.mono()
	last := cs.pressed.Load()
	if last != 0 && time.Duration(now-last) < 4*pressureWait {
		return false
	}
	if !cs.pressed.CompareAndSwap(last, now) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
	err := e.ledger.AnnouncePressure(ctx, cs.id)
	cancel()
	if err != nil {
		return false
	}
	time.Sleep(pressureWait)
	return true
}

// shrink gives the ledger back the idle spare of this process's lease on
// the connection named by a lease_pressure event.
func (e *Engine) shrink(connID string) {
	v, ok := e.conns.Load(connID)
	if !ok {
		return
	}
	l := v.(*connState).lease.Load()
	if l == nil || l.closed.Load() {
		return
	}
	var x int64
	for {
		x = l.avail.Load()
		if x <= 0 {
			return
		}
		if l.avail.CompareAndSwap(x, 0) {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
	defer cancel()
	if _, err := e.ledger.ShrinkLease(ctx, l.id, wattfare.Money(x)); err != nil {
		// The ledger still holds it; it comes back when the lease does.
		e.log.Debug("shrink lease", "lease", l.id, "err", err)
	}
}

// takeUpTo takes a.Amount, or failing that everything down to a.MinAmount.
func takeUpTo(l *lease, a Admission) (wattfare.Money, bool) {
	if l.take(int64(a.Amount)) {
		return a.Amount, true
	}
	if a.MinAmount <= 0 {
		return 0, false
	}
	for {
		v := l.avail.Load()
		if v < int64(a.MinAmount) {
			return 0, false
		}
		n := min(v, int64(a.Amount))
		if l.avail.CompareAndSwap(v, v-n) {
			return wattfare.Money(n), true
		}
	}
}

func (e *Engine) safetyMargin() time.Duration {
	return min(500*time.Millisecond, e.cfg.LeaseTTL/10)
}

// leaseTarget is how much budget to ask for: small at first, doubling when
// leases run dry quickly, halving when they last.
func (e *Engine) leaseTarget(cs *connState, amount wattfare.Money, now int64) wattfare.Money {
	t := wattfare.Money(cs.target.Load())
	if t == 0 {
		t = max(4*amount, e.cfg.MinLease)
	} else if last := cs.lastGrnt.Load(); last != 0 {
		since := time.Duration(now - last)
		switch {
		case since < e.cfg.LeaseTTL/4:
			t *= 2
		case since > e.cfg.LeaseTTL:
			t /= 2
		}
	}
	t = min(max(t, e.cfg.MinLease, 2*amount), e.cfg.MaxLease)
	cs.target.Store(int64(t))
	return t
}

// maybeRenew tops the lease up in the background before it runs dry.
func (e *Engine) maybeRenew(cs *connState, l *lease, keyID string) {
	if l.avail.Load() >= cs.target.Load()/4 {
		return
	}
	e.renew(cs, l, keyID, true)
}

// renew extends l in the background, unless a renewal on cs is under way.
func (e *Engine) renew(cs *connState, l *lease, keyID string, topUp bool) {
	if !cs.renewing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer cs.renewing.Store(false)
		e.extend(cs, l, keyID, topUp)
	}()
}

// extend renews l's expiry, topping it up when topUp; refusals close it.
func (e *Engine) extend(cs *connState, l *lease, keyID string, topUp bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if l.closed.Load() || cs.lease.Load() != l {
		return
	}
	now := e.mono()
	var want wattfare.Money
	if topUp {
		want = e.leaseTarget(cs, 0, now)
	}
	epoch := cs.epoch.Load()
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
	defer cancel()
	grant, err := e.ledger.GrantLease(ctx, wattfare.LeaseRequest{
		LeaseID: l.id, ProcessID: e.cfg.ProcessID, ConnectionID: cs.id, KeyID: keyID,
		Period: l.periodStart, Amount: want, Min: 0, TTL: e.cfg.LeaseTTL,
	})
	if err != nil {
		e.log.Debug("extend lease", "lease", l.id, "err", err)
		return
	}
	if grant.Reason != "" {
		e.renewalRefused(cs, l, keyID, grant.Reason, now)
		return
	}
	if topUp {
		cs.lastGrnt.Store(now)
	}
	if cs.epoch.Load() != epoch {
		l.avail.Add(int64(grant.Granted))
		e.closeLease(l)
		return
	}
	l.avail.Add(int64(grant.Granted))
	e.extendExpiry(l, now)
}

// renewalRefused acts on the ledger's refusal to renew l; cs.mu must be
// held. Cap and wallet refusals leave l as it is.
func (e *Engine) renewalRefused(cs *connState, l *lease, keyID, reason string, now int64) {
	switch reason {
	case wattfare.ECapReached, wattfare.EBudgetExhausted:
	case wattfare.EInvalidAPIKey:
		// The key used for renewal went bad (a revoke this process did not
		// hear of): end its holds; other keys re-validate on their next grant.
		if g := cs.gate(keyID); g != nil {
			g.deny(statusError(reason))
		}
		e.closeLease(l)
	case wattfare.ReasonLeaseGone:
		e.closeLease(l)
	default:
		// Revoked, suspended or gone while this process was not told
		// (e.g. its listener was reconnecting): end everything on it.
		e.denyConn(cs, statusError(reason), now)
		e.closeLease(l)
	}
}

// extendExpiry moves l's admission deadline to what a grant asked for at
// asked (mono time) allows, never earlier; cs.mu must be held.
func (e *Engine) extendExpiry(l *lease, asked int64) {
	deadline := asked + int64(e.cfg.LeaseTTL) - int64(e.safetyMargin())
	if deadline > l.expires.Load() {
		l.expires.Store(deadline)
	}
}
