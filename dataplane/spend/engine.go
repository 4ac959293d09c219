package spend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// Config tunes an Engine. Zero values take the defaults noted.
type Config struct {
	// ProcessID names this data-plane process in leases and names its spool
	// directory; a process restarted with the same id replays its own spool
	// at once. Default: $WATTFARE_PROCESS_ID, else hostname-pid-random (a
	// dead process's spool is then adopted by whichever process starts next).
	ProcessID string
	// LeaseTTL is how long a lease lives without renewal: a process that
	// dies or loses Postgres stops admitting on it after this, and a revoke
	// waits at most this long for it. Default $WATTFARE_LEASE_TTL, else 10 s.
	LeaseTTL time.Duration
	// BatchInterval and BatchSize bound how long settlements wait for their
	// group commit and how many go in one transaction. Settlements are
	// durable in the spool already, so the interval costs no client any
	// latency; it only delays dashboards. Lease releases do not wait for
	// it, and a full batch commits at once. Defaults 200 ms, 1024. Each
	// commit costs Postgres a fixed ~0.4 ms of CPU besides ~4 µs per
	// settlement (BenchmarkSettlePostgres), and on a machine it shares with
	// Postgres every commit briefly takes a core from the requests in
	// flight: at 2,000 requests/s, commits every 50 ms added about 1 ms to
	// the p99 latency (make bench, open loop), every 200 ms about 0.1–0.5 ms.
	// At rates that fill a batch sooner the interval does not matter.
	// Default $WATTFARE_BATCH_INTERVAL, else 200 ms.
	BatchInterval time.Duration
	BatchSize     int
	// SpoolDir holds one directory per process with its append-only spool.
	// Processes sharing it adopt each other's spools when they die.
	// Default $WATTFARE_SPOOL_DIR, else .wattfare/spool.
	SpoolDir string
	// Now is the wall clock that dates admissions (and so their period) when
	// Admission.At is zero. Default time.Now. Lease timing uses the monotonic
	// clock regardless.
	Now func() time.Time
	// Logger receives warnings and debug lines; never one per request.
	Logger *slog.Logger
	// MinLease and MaxLease bound the slice of budget one lease asks for.
	// Defaults $0.05 and $5.
	MinLease wattfare.Money
	MaxLease wattfare.Money
	// IdleAfter returns a lease with no open hold that served nothing for
	// this long. Default 2 s.
	IdleAfter time.Duration
	// SweepInterval is how often this process sweeps expired leases of dead
	// processes. Default LeaseTTL / 2; negative disables.
	SweepInterval time.Duration
	// GrantTimeout bounds one synchronous ledger call on the admission path.
	// Default 2 s.
	GrantTimeout time.Duration
	// RevokeGrace is how long a surrendered lease waits for its in-flight
	// holds to settle before it is released anyway. Default 1 s.
	RevokeGrace time.Duration
}

// Environment variables that set Config's defaults, so that every way of
// starting a data plane (wattfare data, wattfare dev, tests running the
// binary) can place its spool and name its process without more flags.
const (
	EnvProcessID = "WATTFARE_PROCESS_ID" // Config.ProcessID
	EnvSpoolDir  = "WATTFARE_SPOOL_DIR"  // Config.SpoolDir
	EnvLeaseTTL  = "WATTFARE_LEASE_TTL"  // Config.LeaseTTL, a Go duration ("10s")
	// EnvBatchInterval sets Config.BatchInterval, a Go duration ("200ms").
	EnvBatchInterval = "WATTFARE_BATCH_INTERVAL"
)

func (c *Config) setDefaults() error {
	if c.ProcessID == "" {
		c.ProcessID = os.Getenv(EnvProcessID)
	}
	if c.SpoolDir == "" {
		c.SpoolDir = os.Getenv(EnvSpoolDir)
	}
	if c.LeaseTTL <= 0 {
		if d, err := time.ParseDuration(os.Getenv(EnvLeaseTTL)); err == nil && d > 0 {
			c.LeaseTTL = d
		}
	}
	if c.ProcessID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		rand.Read(b[:])
		c.ProcessID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if filepath.Base(c.ProcessID) != c.ProcessID || c.ProcessID == "." || c.ProcessID == ".." {
		return fmt.Errorf("spend: process id %q must be usable as a file name", c.ProcessID)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.BatchInterval <= 0 {
		if d, err := time.ParseDuration(os.Getenv(EnvBatchInterval)); err == nil && d > 0 {
			c.BatchInterval = d
		}
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = 200 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1024
	}
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(".wattfare", "spool")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinLease <= 0 {
		c.MinLease = 5 * wattfare.Cent
	}
	if c.MaxLease <= 0 {
		c.MaxLease = 5 * wattfare.Dollar
	}
	if c.MaxLease < c.MinLease {
		c.MaxLease = c.MinLease
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = 2 * time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = c.LeaseTTL / 2
	}
	if c.GrantTimeout <= 0 {
		c.GrantTimeout = 2 * time.Second
	}
	if c.RevokeGrace <= 0 {
		c.RevokeGrace = time.Second
	}
	return nil
}

// Engine admits requests against budget leases held in memory and settles
// them through the spool and group-committed batches. One Engine per
// data-plane process; its methods are safe for concurrent use.
type Engine struct {
	cfg    Config
	ledger wattfare.Ledger
	log    *slog.Logger
	base   time.Time // monotonic origin for lease deadlines

	conns       sync.Map // connection id → *connState
	walletHolds sync.Map // account id + mode → *atomic.Int64 (connState.walletHeld)

	closingMu sync.Mutex
	closing   map[*lease]struct{} // closed leases not yet queued for release

	batch *batcher

	events   chan wattfare.ChangeEvent
	resync   chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	closeErr error
	once     sync.Once
}

// New starts an engine: it adopts and replays spools left by dead processes
// (and by a previous run of this process id), then starts the batcher, the
// lease maintenance and the sweeper.
func New(cfg Config, ledger wattfare.Ledger) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		ledger:  ledger,
		log:     cfg.Logger.With("component", "spend", "process", cfg.ProcessID),
		base:    time.Now(),
		closing: map[*lease]struct{}{},
		events:  make(chan wattfare.ChangeEvent, 4096),
		resync:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.ProcessID, e.log)
	if err != nil {
		return nil, err
	}
	e.batch = newBatcher(e, sp)
	e.wg.Add(3)
	go func() { defer e.wg.Done(); e.batch.run(e.stop) }()
	go func() { defer e.wg.Done(); e.maintain() }()
	go func() { defer e.wg.Done(); e.invalidations() }()
	if cfg.SweepInterval > 0 {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.sweepLoop() }()
	}
	return e, nil
}

// mono returns the monotonic time since the engine started, in nanoseconds:
// lease deadlines are kept on it so that wall-clock jumps cannot stretch them.
func (e *Engine) mono() int64 { return int64(time.Since(e.base)) }

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
	ch  chan struct{}
	err error
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
	cs.walletHeld = e.walletHeld(p.AccountID, p.Mode)
	empty := []*keyGate{}
	cs.gates.Store(&empty)
	v, _ := e.conns.LoadOrStore(p.ConnectionID, cs)
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

// forgetAfter is how long a connection without a lease stays in memory.
const forgetAfter = 10 * time.Minute

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
	cs.mu.Lock()
	defer cs.mu.Unlock()
	periodStart := wattfare.PeriodStart(a.At)
	pressed := false
	for attempt := 0; attempt < 4; attempt++ {
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
			if !pressed && e.pressure(cs, grant) {
				pressed = true
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
			return e.newHold(cs, l, sig, p, a, amt), nil
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

// pressureWait is how long a refused admission waits, once, for other
// processes to give back the spare of their leases on the connection.
const pressureWait = 50 * time.Millisecond

// pressure announces that the connection's budget is short while leases
// hold some of it, and waits for the spare to come back. It reports whether
// the caller should ask the ledger again. Announcements are rate-limited per
// connection.
func (e *Engine) pressure(cs *connState, g wattfare.LeaseGrant) bool {
	if g.Reason != wattfare.ECapReached && g.Reason != wattfare.EBudgetExhausted {
		return false
	}
	if g.Held <= 0 || g.Reason == wattfare.EBudgetExhausted && g.WalletAvailable+g.Held <= 0 {
		return false
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

// statusDenialTTL bounds how long a cached revoked/suspended/not-connected
// refusal is trusted without an invalidation.
const statusDenialTTL = 30 * time.Second

// refuse turns a ledger refusal into the typed error, and caches it.
func (e *Engine) refuse(cs *connState, keyID string, g wattfare.LeaseGrant, a Admission, periodStart time.Time, now int64) *wattfare.Error {
	err := refusal(g, periodStart)
	switch g.Reason {
	case wattfare.EInvalidAPIKey:
		cs.setGate(keyID, nil).deny(err)
	case wattfare.ECapReached, wattfare.EBudgetExhausted:
		cs.denial.Store(&denial{err: err, amount: a.floor(), until: now + int64(200*time.Millisecond)})
	default:
		// The ledger knows of a revoke this process was not told about:
		// end what is in flight too. Re-ask after a while in case the
		// event that lifts it is missed.
		e.denyConn(cs, err, now)
	}
	return err
}

func refusal(g wattfare.LeaseGrant, periodStart time.Time) *wattfare.Error {
	resets := wattfare.PeriodEnd(periodStart).Format(time.RFC3339)
	switch g.Reason {
	case wattfare.ECapReached:
		return &wattfare.Error{Code: wattfare.ECapReached,
			Message: "this app's monthly cap for this user is used up",
			Metadata: map[string]any{"limit_source": "connection_cap", "cap_usd": g.Cap.String(),
				"spent_usd": g.Captured.String(), "resets_at": resets}}
	case wattfare.EBudgetExhausted:
		return &wattfare.Error{Code: wattfare.EBudgetExhausted,
			Message: "the user's Wattfare wallet cannot cover this request",
			Metadata: map[string]any{"limit_source": "wallet", "cap_usd": g.Cap.String(),
				"spent_usd": g.Captured.String(), "resets_at": resets,
				"wallet_available_usd": max(0, g.WalletAvailable).String()}}
	default:
		return statusError(g.Reason)
	}
}

func statusError(reason string) *wattfare.Error {
	switch reason {
	case wattfare.ENotConnected:
		return &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}
	case wattfare.EConnectionRevoked:
		return &wattfare.Error{Code: wattfare.EConnectionRevoked, Message: "the user revoked this app's access to their budget"}
	case wattfare.EAppSuspended:
		return &wattfare.Error{Code: wattfare.EAppSuspended, Message: "this app is suspended"}
	case wattfare.EInvalidAPIKey:
		return &wattfare.Error{Code: wattfare.EInvalidAPIKey, Message: "the API key is revoked or expired"}
	default:
		return &wattfare.Error{Code: wattfare.EUnavailable, Message: "cannot admit: " + reason}
	}
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
	} else {
		walletHeld = max(0, wattfare.Money(e.walletHeld(p.AccountID, p.Mode).Load()))
	}
	b.Spent = min(b.Cap, b.Spent+pendConn)
	b.Held = held
	b.Wallet = max(0, b.Wallet-pendWallet-walletHeld)
	b.Remaining = max(0, min(b.Cap-b.Spent-b.Held, b.Wallet))
	return b, nil
}

// Sweep releases expired leases of dead processes now; the engine also does
// it every SweepInterval.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	return e.ledger.SweepExpiredLeases(ctx)
}

func (e *Engine) sweepLoop() {
	t := time.NewTicker(e.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), e.cfg.GrantTimeout)
			if n, err := e.ledger.SweepExpiredLeases(ctx); err != nil {
				e.log.Debug("sweep leases", "err", err)
			} else if n > 0 {
				e.log.Info("swept expired leases", "count", n)
			}
			cancel()
		}
	}
}

// maintain extends leases in use before they expire, returns idle ones and
// leases of past periods, and releases surrendered leases whose holds did
// not end within RevokeGrace.
func (e *Engine) maintain() {
	tick := min(e.cfg.LeaseTTL/10, 250*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		now := e.mono()
		cur := periodIndex(e.cfg.Now())
		e.conns.Range(func(k, v any) bool {
			cs := v.(*connState)
			l := cs.lease.Load()
			if l == nil || l.closed.Load() {
				// Forget connections idle for long: their state is re-derived
				// from the ledger on the next admission.
				if time.Duration(now-cs.lastGrnt.Load()) > forgetAfter && (l == nil || l.holds.Load() == 0) {
					e.conns.CompareAndDelete(k, cs)
				}
				return true
			}
			// A lease with no hold open goes when idle, of a past period or expired.
			if l.holds.Load() == 0 && (time.Duration(now-l.lastUse.Load()) > e.cfg.IdleAfter || l.period < cur ||
				now >= l.expires.Load()+int64(e.safetyMargin())) {
				e.closeLease(l)
				return true
			}
			if time.Duration(l.expires.Load()-now) < e.cfg.LeaseTTL/2 && !cs.renewing.Load() {
				keyID := ""
				if gs := *cs.gates.Load(); len(gs) > 0 {
					keyID = gs[len(gs)-1].keyID
				}
				e.renew(cs, l, keyID, false)
			}
			return true
		})
		var late []*lease
		e.closingMu.Lock()
		for l := range e.closing {
			if time.Duration(now-l.closedAt.Load()) >= e.cfg.RevokeGrace {
				late = append(late, l)
			}
		}
		e.closingMu.Unlock()
		for _, l := range late {
			e.queueRelease(l)
		}
	}
}

// Close stops admitting, waits (until ctx ends) for open holds to settle,
// commits every settlement, returns every lease and leaves an empty spool.
// Settlements after Close are only spooled, for the next start to replay.
func (e *Engine) Close(ctx context.Context) error {
	e.once.Do(func() {
		e.closed.Store(true)
		for {
			open := int64(0)
			e.conns.Range(func(_, v any) bool {
				if l := v.(*connState).lease.Load(); l != nil {
					open += l.holds.Load()
				}
				return true
			})
			if open == 0 || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
		e.conns.Range(func(_, v any) bool {
			if l := v.(*connState).lease.Load(); l != nil {
				e.closeLease(l)
			}
			return true
		})
		e.closingMu.Lock()
		var rest []*lease
		for l := range e.closing {
			rest = append(rest, l)
		}
		e.closingMu.Unlock()
		for _, l := range rest {
			e.queueRelease(l)
		}
		close(e.stop)
		e.wg.Wait()
		e.closeErr = e.batch.drain(ctx)
	})
	return e.closeErr
}

// Crash stops the engine the way SIGKILL stops a process, for tests of
// recovery: admissions stop, nothing more is committed, no lease is
// returned, and the spool stays on disk (its lock is dropped, as a dead
// process's would be) for another engine to adopt and replay.
func (e *Engine) Crash() {
	e.once.Do(func() {
		e.closed.Store(true)
		close(e.stop)
		e.wg.Wait()
		e.batch.mu.Lock()
		e.batch.sp.close(false)
		e.batch.mu.Unlock()
		e.closeErr = errClosed
	})
}
