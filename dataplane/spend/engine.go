package spend

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
)

// Engine admits requests against budget leases held in memory and settles
// them through the spool and group-committed batches. One Engine per
// data-plane process; its methods are safe for concurrent use.
type Engine struct {
	cfg    Config
	ledger wattfare.Ledger
	log    *slog.Logger
	base   time.Time // monotonic origin for lease deadlines

	conns       sync.Map   // connection id → *connState
	walletHolds sync.Map   // account id + mode → *atomic.Int64 (connState.walletHeld)
	walletMu    sync.Mutex // orders connState creation against forgetWallets
	memos       sync.Map   // connection id → *remainingMemo
	nmemos      atomic.Int64

	closingMu sync.Mutex
	closing   map[*lease]struct{} // closed leases not yet queued for release

	batch  *batcher
	meters *meters
	slots  *slots // checkpoints of open streams

	adoptMu   sync.Mutex    // one adoption pass at a time
	recovered chan struct{} // closed once the previous run of this process id is recovered

	events chan wattfare.ChangeEvent
	resync chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
	// admitting counts admissions asking the ledger: Close waits for them,
	// so that a lease granted while it runs is released with the rest.
	admitting atomic.Int64
	closeErr  error
	once      sync.Once
}

// New starts an engine: it opens this process's spool and stream
// checkpoints, starts the batcher and the lease maintenance, and starts
// recovering the spool directories of dead runs: its own id's previous run
// first (no lease is granted until that is done: see recoverOwn), and every
// AdoptInterval those of dead processes on the host (adopt.go).
func New(cfg Config, ledger wattfare.Ledger) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := newMeters()
	ledger = &meteredLedger{Ledger: ledger, m: m}
	e := &Engine{
		cfg:       cfg,
		ledger:    ledger,
		meters:    m,
		log:       cfg.Logger.With("component", "spend", "process", cfg.ProcessID),
		base:      time.Now(),
		closing:   map[*lease]struct{}{},
		events:    make(chan wattfare.ChangeEvent, 4096),
		resync:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
		recovered: make(chan struct{}),
	}
	sp, old, err := openSpool(cfg.SpoolDir, cfg.ProcessID, e.log)
	if err != nil {
		return nil, err
	}
	if e.slots, err = openSlots(sp.dir, e.log); err != nil {
		sp.close(false)
		sp.unlock()
		return nil, err
	}
	e.batch = newBatcher(e, sp)
	if len(old) > 0 {
		e.ledger = &gatedLedger{Ledger: ledger, ready: e.recovered}
		own := &recovery{processID: cfg.ProcessID, dir: sp.dir, files: old}
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.recoverOwn(own) }()
	} else {
		close(e.recovered)
	}
	e.wg.Add(3)
	go func() { defer e.wg.Done(); e.batch.run(e.stop) }()
	go func() { defer e.wg.Done(); e.maintain() }()
	go func() { defer e.wg.Done(); e.invalidations() }()
	if cfg.AdoptInterval > 0 {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.adoptLoop() }()
	}
	return e, nil
}

// mono returns the monotonic time since the engine started, in nanoseconds:
// lease deadlines are kept on it so that wall-clock jumps cannot stretch them.
func (e *Engine) mono() int64 { return int64(time.Since(e.base)) }

// maintain extends leases in use before they expire, returns idle ones and
// leases of past periods, and releases surrendered leases whose holds did
// not end within RevokeGrace.
func (e *Engine) maintain() {
	tick := min(e.cfg.LeaseTTL/10, 250*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	ticks := 0
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
				if time.Duration(now-cs.lastGrnt.Load()) > e.cfg.ForgetAfter && (l == nil || l.holds.Load() == 0) {
					if e.conns.CompareAndDelete(k, cs) {
						if _, had := e.memos.LoadAndDelete(k); had {
							e.nmemos.Add(-1)
						}
					}
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
		if ticks++; ticks%forgetEvery == 0 {
			e.forgetWallets()
		}
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
// commits every settlement, returns every lease and leaves no spool
// directory. A hold still open when ctx ends keeps its checkpoint on disk
// (with its final figures if it settles after Close), for the next start or
// an adopter to charge.
func (e *Engine) Close(ctx context.Context) error {
	e.once.Do(func() {
		e.closed.Store(true)
		idle := false // every admission and hold ended before ctx did
		for {
			open := e.admitting.Load()
			e.conns.Range(func(_, v any) bool {
				if l := v.(*connState).lease.Load(); l != nil {
					open += l.holds.Load()
				}
				return true
			})
			if idle = open == 0; idle || ctx.Err() != nil {
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
		if idle && e.closeErr == nil {
			// Everything this run charged is committed and nothing is open:
			// no lease of this process is needed any more. One still open
			// here escaped the releases above; leave none holding budget.
			if n, err := e.ledger.ReleaseProcessLeases(ctx, e.cfg.ProcessID); err != nil {
				e.closeErr = err
			} else if n > 0 {
				e.log.Warn("released leases left open at shutdown", "leases", n)
			}
		}
		e.slots.close()
		if err := e.batch.sp.unlock(); err != nil && e.closeErr == nil {
			e.closeErr = err
		}
	})
	return e.closeErr
}
