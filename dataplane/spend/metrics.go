package spend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/metric"
)

// meters are the engine's counters, on atomics: recorded where the event
// happens, read by Stats.
type meters struct {
	grants, refusals, grantErrors atomic.Uint64 // GrantLease answers
	acquired                      atomic.Uint64 // new leases installed
	returned, shrinks             atomic.Uint64 // leases released in commits; partial returns
	commits, commitErrors         atomic.Uint64
	settlements                   atomic.Uint64 // committed
	overruns                      atomic.Uint64 // settlements that cost more than their hold and the lease's spare
	overrun                       atomic.Int64  // what they cost beyond it, nano-dollars
	batch                         *metric.Histogram
	commitLatency                 *metric.Histogram
}

func newMeters() *meters {
	return &meters{
		batch:         metric.NewHistogram([]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}, 1),
		commitLatency: metric.NewLatency(),
	}
}

// Stats is a reading of the engine's counters, for metrics. Counters only
// grow; SpoolDepth and OpenHolds are levels.
type Stats struct {
	LeaseGrants, LeaseRefusals, LeaseErrors uint64 // the ledger's answers to lease requests
	LeasesAcquired                          uint64 // new leases (the rest of LeaseGrants renewed or grew one)
	LeasesReturned, LeaseShrinks            uint64 // leases given back whole; spare given back on pressure
	Commits, CommitErrors, Settlements      uint64 // ledger transactions and the settlements they committed
	Overruns                                uint64
	Overrun                                 wattfare.Money
	SpoolDepth                              int   // settlements spooled and not yet committed
	OpenHolds                               int64 // requests holding budget now
	Connections                             int   // connections the engine keeps state for
	BatchSize, CommitLatency                *metric.Histogram
}

// Stats reads the engine's counters.
func (e *Engine) Stats() Stats {
	m := e.meters
	s := Stats{
		LeaseGrants: m.grants.Load(), LeaseRefusals: m.refusals.Load(), LeaseErrors: m.grantErrors.Load(),
		LeasesAcquired: m.acquired.Load(), LeasesReturned: m.returned.Load(), LeaseShrinks: m.shrinks.Load(),
		Commits: m.commits.Load(), CommitErrors: m.commitErrors.Load(), Settlements: m.settlements.Load(),
		Overruns: m.overruns.Load(), Overrun: wattfare.Money(m.overrun.Load()),
		BatchSize: m.batch, CommitLatency: m.commitLatency,
	}
	e.batch.mu.Lock()
	s.SpoolDepth = e.batch.queued
	e.batch.mu.Unlock()
	e.conns.Range(func(_, v any) bool {
		s.Connections++
		if l := v.(*connState).lease.Load(); l != nil {
			s.OpenHolds += l.holds.Load()
		}
		return true
	})
	return s
}

// meteredLedger counts the engine's calls to the ledger.
type meteredLedger struct {
	wattfare.Ledger
	m *meters
}

func (l *meteredLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	g, err := l.Ledger.GrantLease(ctx, r)
	switch {
	case err != nil:
		l.m.grantErrors.Add(1)
	case g.Reason != "":
		l.m.refusals.Add(1)
	default:
		l.m.grants.Add(1)
	}
	return g, err
}

func (l *meteredLedger) Commit(ctx context.Context, ss []wattfare.Settlement, releases []string) error {
	start := time.Now()
	err := l.Ledger.Commit(ctx, ss, releases)
	l.m.commitLatency.ObserveDuration(time.Since(start))
	if err != nil {
		l.m.commitErrors.Add(1)
		return err
	}
	l.m.commits.Add(1)
	if len(ss) > 0 {
		l.m.batch.Observe(int64(len(ss)))
		l.m.settlements.Add(uint64(len(ss)))
	}
	l.m.returned.Add(uint64(len(releases)))
	return nil
}

func (l *meteredLedger) ShrinkLease(ctx context.Context, id string, a wattfare.Money) (wattfare.Money, error) {
	got, err := l.Ledger.ShrinkLease(ctx, id, a)
	if err == nil {
		l.m.shrinks.Add(1)
	}
	return got, err
}
