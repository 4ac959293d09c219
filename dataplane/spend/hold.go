package spend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// Hold is one admitted request's reservation on a lease. The proxy owns it:
// Amount, Grow, Settle and Release are called from the request's goroutine;
// Done and Err may be read from anywhere.
type Hold struct {
	e         *Engine
	cs        *connState
	lease     *lease
	sig       *signal
	payer     Payer
	requestID string
	at        time.Time
	amount    wattfare.Money
	state     atomic.Uint32 // 0 open, 1 settled or released

	// The request's checkpoint slot (checkpoint.go), claimed on its first
	// Checkpoint; nil before, or when none could be had.
	slot  *slotHdr
	slotN int32
}

// Checkpoint records what the request has delivered so far: u.Cost is its
// cost so far, with the tokens counted so far, and u's model, upstream and
// endpoint name the request. Call it (from the request's goroutine, like
// Settle) as bytes leave for the client, at least every 250 ms while a
// stream runs: when the process is killed, the request is charged its last
// checkpoint (as a settlement of status wattfare.StatusInterrupted) by the
// next start or by another process on the host adopting the dead process's
// spool, before the dead process's leases are released. Settle supersedes
// the checkpoint; nothing is charged twice.
//
// The first call claims a slot in a shared memory-mapped file; every later
// one is a handful of plain stores into it: no system call, no allocation,
// no lock (BenchmarkCheckpoint).
func (h *Hold) Checkpoint(u *wattfare.Usage) {
	s := h.slot
	if s == nil {
		if h.slotN < 0 || h.state.Load() != 0 {
			return
		}
		s, h.slotN = h.e.slots.claim(h, u, 0)
		if s == nil {
			return
		}
		h.slot = s
	}
	s.set(u, h.amount)
}

// Amount returns what is currently held for this request.
func (h *Hold) Amount() wattfare.Money { return h.amount }

// Done is closed when the payer's connection is revoked, its app suspended
// or its key revoked: the proxy must then end the request with Err().
func (h *Hold) Done() <-chan struct{} { return h.sig.ch }

// Err says why Done closed (a *wattfare.Error), or nil while it is open.
func (h *Hold) Err() error {
	select {
	case <-h.sig.ch:
		return h.sig.err
	default:
		return nil
	}
}

// Grow raises the hold to `to`, from the lease when it has spare, else by
// renewing it synchronously. It returns false when the cap or the wallet
// cannot cover `to` (the proxy then cuts the stream with cap_reached), or
// when the payer was revoked.
func (h *Hold) Grow(to wattfare.Money) bool {
	if to <= h.amount {
		return true
	}
	if h.state.Load() != 0 || h.Err() != nil {
		return false
	}
	l := h.lease
	now := h.e.mono()
	if l.live(now) && l.take(int64(to-h.amount)) {
		h.cs.addHeld(to - h.amount)
		h.amount = to
		l.lastUse.Store(now)
		h.e.maybeRenew(h.cs, l, h.payer.KeyID)
		return true
	}
	return h.e.growSlow(h, to)
}

// growSlow renews the hold's lease, or moves the hold whole onto a fresh
// lease when its own was surrendered, swept or belongs to another period.
func (e *Engine) growSlow(h *Hold, to wattfare.Money) bool {
	if e.closed.Load() {
		return false
	}
	cs := h.cs
	l := h.lease
	delta := to - h.amount
	if !l.closed.Load() {
		cs.mu.Lock()
		for pressed := 0; cs.lease.Load() == l && !l.closed.Load(); pressed++ {
			now := e.mono()
			need := max(0, delta-max(0, wattfare.Money(l.avail.Load())))
			want := max(e.leaseTarget(cs, delta, now), need)
			epoch := cs.epoch.Load()
			ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
			grant, err := e.ledger.GrantLease(ctx, wattfare.LeaseRequest{
				LeaseID: l.id, ProcessID: e.cfg.ProcessID, ConnectionID: cs.id, KeyID: h.payer.KeyID,
				Period: l.periodStart, Amount: want, Need: need, Min: need, TTL: e.cfg.LeaseTTL,
			})
			cancel()
			if err == nil && grant.Reason == "" {
				cs.lastGrnt.Store(now)
				l.avail.Add(int64(grant.Granted))
				e.extendExpiry(l, now)
				if cs.epoch.Load() != epoch {
					e.closeLease(l)
				}
			} else if err == nil && e.pressure(cs, grant, pressed) {
				continue // others gave back spare: ask again
			} else if err == nil {
				e.renewalRefused(cs, l, h.payer.KeyID, grant.Reason, now)
			}
			break
		}
		cs.mu.Unlock()
		now := e.mono()
		if l.live(now) && l.take(int64(delta)) {
			cs.addHeld(delta)
			h.amount = to
			return true
		}
		if !l.closed.Load() {
			return false // the cap or the wallet is reached
		}
	}
	// The lease was surrendered: move the whole hold onto a current one.
	if h.Err() != nil {
		return false
	}
	nh, err := e.Admit(context.Background(), h.payer, Admission{RequestID: h.requestID, Amount: to, At: h.at})
	if err != nil {
		return false
	}
	l.avail.Add(int64(h.amount))
	e.holdDone(l)
	cs.addHeld(-h.amount) // nh counted the whole new amount
	h.lease = nh.lease
	h.amount = to
	if h.slot != nil {
		e.slots.move(h) // the checkpoint must name the lease that now holds for it
	}
	return true
}

// Settle records what the request consumed: exactly once per hold, durable
// in the spool before it returns, committed to Postgres in a later batch.
// The cost is charged from the hold (and the lease's spare when the cost
// outgrew the hold); what the lease cannot cover is charged only as far as
// the cap and the wallet allow, never beyond.
func (h *Hold) Settle(u wattfare.Usage) {
	if !h.state.CompareAndSwap(0, 1) {
		return
	}
	if u.Cost < 0 {
		u.Cost = 0
	}
	l := h.lease
	from := u.Cost
	if u.Cost > h.amount {
		if !l.take(int64(u.Cost - h.amount)) {
			from = h.amount
			h.e.meters.overruns.Add(1)
			h.e.meters.overrun.Add(int64(u.Cost - h.amount))
		}
	} else {
		l.avail.Add(int64(h.amount - u.Cost))
	}
	p := &h.payer
	spooled := h.e.batch.settle(wattfare.Settlement{
		RequestID: h.requestID, At: h.at, LeaseID: l.id, FromLease: from,
		ConnectionID: p.ConnectionID, AccountID: p.AccountID, AppID: p.AppID, AppUserID: p.AppUserID,
		KeyID: p.KeyID, Mode: p.Mode, Usage: u,
	})
	if s := h.slot; s != nil {
		// The final record is in the spool: the checkpoint goes. (A crash
		// in between leaves both; recovery charges the record.) When the
		// spool is closed (after Close), the checkpoint stays, with the
		// final figures, for the next start or an adopter to charge.
		if spooled {
			h.e.slots.free(s, h.slotN)
		} else {
			s.set(&u, h.amount)
		}
		h.slot = nil
	}
	// Queued before the hold stops counting: a Budget read in between
	// counts the charge twice for a moment, never not at all.
	h.cs.addHeld(-h.amount)
	h.amount = 0
	h.e.holdDone(l)
}

// Release ends a request that sent nothing upstream: nothing is charged and
// the hold returns to the lease.
func (h *Hold) Release() {
	if !h.state.CompareAndSwap(0, 1) {
		return
	}
	if s := h.slot; s != nil {
		h.e.slots.free(s, h.slotN)
		h.slot = nil
	}
	h.lease.avail.Add(int64(h.amount))
	h.cs.addHeld(-h.amount)
	h.amount = 0
	h.e.holdDone(h.lease)
}
