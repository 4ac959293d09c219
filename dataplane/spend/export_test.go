package spend

import (
	"context"
)

// Adopt runs one adoption pass now (the engine also does it every
// AdoptInterval) and returns how many dead processes' spools it recovered.
func (e *Engine) Adopt(ctx context.Context) int { return e.adopt(ctx) }

// Recovered is closed once the previous run of this engine's process id has
// been recovered (at once when there was none).
func (e *Engine) Recovered() <-chan struct{} { return e.recovered }

// Crash stops the engine the way SIGKILL stops a process, for tests of
// recovery: admissions stop, nothing more is committed, no lease is
// returned, and the spool and the stream checkpoints stay on disk (its lock
// is dropped, as a dead process's would be) for another engine to adopt and
// replay.
func (e *Engine) Crash() {
	e.once.Do(func() {
		e.closed.Store(true)
		close(e.stop)
		e.wg.Wait()
		e.batch.mu.Lock()
		e.batch.sp.close(false)
		e.batch.mu.Unlock()
		e.slots.crash()
		e.batch.sp.lock.Close()
		e.batch.sp.lock = nil
		e.closeErr = errClosed
	})
}
