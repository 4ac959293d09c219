package spend

import (
	"context"
)

// Sweep releases expired leases of dead processes now; the engine also does
// it every SweepInterval.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	return e.ledger.SweepExpiredLeases(ctx)
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
