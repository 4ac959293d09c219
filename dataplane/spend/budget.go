package spend

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// addHeld counts d more (or, negative, less) as held by this process's open
// holds on the connection and its wallet.
func (cs *connState) addHeld(d wattfare.Money) {
	if d == 0 {
		return
	}
	cs.held.Add(int64(d))
	cs.walletHeld.Add(int64(d))
}

// walletHeld returns the shared counter of open holds on a wallet; e.walletMu
// must be held.
func (e *Engine) walletHeld(accountID string, mode wattfare.Mode) *atomic.Int64 {
	k := accountID + "\x00" + string(mode)
	if v, ok := e.walletHolds.Load(k); ok {
		return v.(*atomic.Int64)
	}
	v, _ := e.walletHolds.LoadOrStore(k, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// forgetEvery is how many maintenance ticks pass between forgetWallets runs.
const forgetEvery = 40

// forgetWallets drops the wallet counters no connection in memory refers to
// and that count no hold: connections are forgotten when idle, and their
// wallets must be too, or the map grows with every wallet ever seen.
func (e *Engine) forgetWallets() {
	e.walletMu.Lock()
	defer e.walletMu.Unlock()
	used := make(map[*atomic.Int64]struct{})
	e.conns.Range(func(_, v any) bool {
		used[v.(*connState).walletHeld] = struct{}{}
		return true
	})
	e.walletHolds.Range(func(k, v any) bool {
		c := v.(*atomic.Int64)
		if _, ok := used[c]; !ok && c.Load() == 0 {
			e.walletHolds.Delete(k)
		}
		return true
	})
}

// pendingCharges sums the settlements of this process not yet committed:
// those of the connection in the period starting at period, and those of
// the wallet. It first waits for a flush under way (whose settlements are
// out of the queue but maybe not yet in the ledger), until ctx ends or for
// at most wait, and returns the count of flushes begun, so the caller can
// tell whether one began since.
func (b *batcher) pendingCharges(ctx context.Context, wait time.Duration, connID, accountID string, mode wattfare.Mode, period time.Time) (flushes uint64, conn, wallet wattfare.Money) {
	deadline := time.Now().Add(wait)
	pause := 100 * time.Microsecond
	b.mu.Lock()
	for b.flushing && ctx.Err() == nil && time.Now().Before(deadline) {
		// Polled rather than waited on b.idle, so that a flush stuck on an
		// unreachable ledger cannot hold a budget read past its context.
		b.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Millisecond)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	for _, chunk := range b.pending {
		for i := range chunk {
			s := &chunk[i]
			if s.AccountID != accountID || s.Mode != mode {
				continue
			}
			wallet += s.Usage.Cost
			if s.ConnectionID == connID && !s.At.Before(period) {
				conn += s.Usage.Cost
			}
		}
	}
	return b.flushes, conn, wallet
}

// flushedSince reports whether a flush began after pendingCharges returned
// flushes, or is under way.
func (b *batcher) flushedSince(flushes uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushing || b.flushes != flushes
}

// Budget reports p's cap, spend and remaining budget for the current period,
// as Budget's doc comment defines them: what the ledger has committed plus
// this process's settlements still waiting for their batch, and this
// process's open holds rather than the reserve its leases keep.
func (e *Engine) Budget(ctx context.Context, p Payer) (wattfare.Budget, error) {
	period := wattfare.PeriodStart(e.cfg.Now())
	var b wattfare.Budget
	var pendConn, pendWallet wattfare.Money
	for attempt := 0; ; attempt++ {
		var flushes uint64
		flushes, pendConn, pendWallet = e.batch.pendingCharges(ctx, e.cfg.GrantTimeout, p.ConnectionID, p.AccountID, p.Mode, period)
		var err error
		b, err = e.ledger.Budget(ctx, p.ConnectionID, period)
		if err != nil {
			var we *wattfare.Error
			if errors.As(err, &we) {
				return wattfare.Budget{}, we
			}
			e.log.Warn("read budget", "connection", p.ConnectionID, "err", err)
			return wattfare.Budget{}, unavailable()
		}
		// A batch committed while the ledger was read may be counted
		// twice (in the ledger and as pending): read again.
		if !e.batch.flushedSince(flushes) || attempt == 3 {
			break
		}
	}
	var held, walletHeld wattfare.Money
	if v, ok := e.conns.Load(p.ConnectionID); ok {
		cs := v.(*connState)
		held = max(0, wattfare.Money(cs.held.Load()))
		walletHeld = max(0, wattfare.Money(cs.walletHeld.Load()))
	} else if v, ok := e.walletHolds.Load(p.AccountID + "\x00" + string(p.Mode)); ok {
		walletHeld = max(0, wattfare.Money(v.(*atomic.Int64).Load()))
	}
	b.Spent = min(b.Cap, b.Spent+pendConn)
	b.Held = held
	b.Wallet = max(0, b.Wallet-pendWallet-walletHeld)
	b.Remaining = max(0, min(b.Cap-b.Spent-b.Held, b.Wallet))
	e.remember(p.ConnectionID, b.Remaining)
	return b, nil
}

// remainingMemo is a connection's remaining budget as Budget last said it,
// for the Wattfare-Budget-Remaining header of every response: reading the
// ledger per request would cost more than the proxy does, so the figure is
// refreshed in the background at most once a second. Admission never reads
// it.
type remainingMemo struct {
	at         atomic.Int64 // unix nanos of the reading
	remaining  atomic.Int64
	refreshing atomic.Bool
}

// maxRemainingMemos bounds the memos kept; past it they are all dropped and
// re-read on each connection's next request.
const maxRemainingMemos = 100_000

// Remaining returns p's remaining budget as of at most about a second ago
// (now is the request's clock reading), reading it on a connection's first
// request. ok is false when it could not be read.
func (e *Engine) Remaining(ctx context.Context, p Payer, now time.Time) (wattfare.Money, bool) {
	t := now.UnixNano()
	v, found := e.memos.Load(p.ConnectionID)
	if !found {
		b, err := e.Budget(ctx, p) // remembers
		if err != nil {
			return 0, false
		}
		return b.Remaining, true
	}
	m := v.(*remainingMemo)
	if t-m.at.Load() > int64(time.Second) && m.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer m.refreshing.Store(false)
			c, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
			defer cancel()
			e.Budget(c, p) // remembers

		}()
	}
	return wattfare.Money(m.remaining.Load()), true
}

// rememberGrant gives a connection with no remaining-budget memo one from
// the figures of the lease grant that just admitted its request (the
// period's cap and captured spend, the wallet's available balance after
// the grant, which the grant's own reserve is added back to), less this
// process's open holds, as Budget counts them. A cold connection's first
// answer then carries Wattfare-Budget-Remaining without a Budget read: a
// round trip and a Postgres transaction saved per cold connection. Like any
// memo it is refreshed from Budget once a later request finds it a second
// old.
func (e *Engine) rememberGrant(cs *connState, g wattfare.LeaseGrant) {
	if _, ok := e.memos.Load(cs.id); ok {
		return
	}
	held := max(0, wattfare.Money(cs.held.Load()))
	e.remember(cs.id, max(0, min(g.Cap-g.Captured-held, g.WalletAvailable+g.Granted-held)))
}

// remember records a fresh reading of a connection's remaining budget (a
// GET /v1/budget answer, for one): the next responses' header starts from it.
func (e *Engine) remember(connID string, remaining wattfare.Money) {
	if v, ok := e.memos.Load(connID); ok {
		m := v.(*remainingMemo)
		m.remaining.Store(int64(remaining))
		m.at.Store(time.Now().UnixNano())
		return
	}
	m := &remainingMemo{}
	m.at.Store(time.Now().UnixNano())
	m.remaining.Store(int64(remaining))
	if e.nmemos.Add(1) > maxRemainingMemos {
		e.memos.Clear()
		e.nmemos.Store(0)
	}
	e.memos.Store(connID, m)
}
