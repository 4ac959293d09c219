package spend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wattfare/wattfare"
)

// Recovery of dead runs: a process that dies leaves its spool directory
// (settlements not yet committed, checkpoints of the streams it had open)
// and its leases in the ledger, which go on holding the budget those
// requests were admitted against: the ledger never releases a lease because
// it expired. The directory is recovered by the next run of the same
// process id, or, as soon as its lock is free, by any live process on the
// host (every AdoptInterval): it commits the run's records and its
// checkpoints as interrupted settlements, charged from those still-held
// leases; then it releases the dead process's leases; then it deletes the
// files. A crash at any step leaves the directory to the next adopter, and
// replaying is idempotent (usage events are keyed by request id and
// admission time). A spool that is lost with its host is resolved only by
// an operator: `wattfare spool abandon` (Ledger.AbandonProcess).

// recovery is one dead run's spool directory, being recovered.
type recovery struct {
	processID string
	dir       string
	files     []string // the run's segments and checkpoint files
	lock      *os.File // a dead process's lock, held until done; nil for this process's own dir
	recs      []wattfare.Settlement
	read      bool
}

// load reads the run's settlements once: its spooled records, then a
// settlement of status StatusInterrupted for every live checkpoint whose
// request has no record (when a crash left both, the record, written at
// Settle, is the final word).
func (r *recovery) load(e *Engine) {
	if r.read {
		return
	}
	r.read = true
	type key struct {
		id string
		at int64
	}
	seen := map[key]bool{}
	var cps []checkpointed
	for _, f := range r.files {
		if isSlotFile(f) {
			c, err := readSlots(f)
			if err != nil {
				e.log.Warn("stream checkpoint file has a bad slot", "file", f, "err", err)
			}
			cps = append(cps, c...)
			continue
		}
		recs, err := readSegment(f)
		if err != nil {
			e.log.Warn("spool segment ends with a torn record", "file", f, "err", err)
		}
		for _, s := range recs {
			seen[key{s.RequestID, s.At.UnixNano()}] = true
		}
		r.recs = append(r.recs, recs...)
	}
	// Of two live slots of one request (a crash while its hold moved to
	// another lease), the newer.
	best := map[key]int{}
	for i, c := range cps {
		k := key{c.s.RequestID, c.s.At.UnixNano()}
		if seen[k] {
			continue
		}
		if j, ok := best[k]; !ok || cps[j].seq < c.seq {
			best[k] = i
		}
	}
	for i, c := range cps {
		if j, ok := best[key{c.s.RequestID, c.s.At.UnixNano()}]; ok && j == i {
			r.recs = append(r.recs, c.s)
		}
	}
}

// recover commits r's settlements, then releases the run's leases, then
// deletes its files. It returns how many settlements and leases it
// resolved; on an error nothing is deleted and the caller tries again.
func (e *Engine) recover(ctx context.Context, r *recovery) (int, int, error) {
	r.load(e)
	for i := 0; i < len(r.recs); i += e.cfg.BatchSize {
		if err := e.batch.commit(ctx, r.recs[i:min(i+e.cfg.BatchSize, len(r.recs))], nil); err != nil {
			return 0, 0, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	n, err := e.ledger.ReleaseProcessLeases(rctx, r.processID)
	cancel()
	if err != nil {
		return 0, 0, fmt.Errorf("release the leases of process %s: %w", r.processID, err)
	}
	for _, f := range r.files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("remove recovered spool file", "file", f, "err", err)
		}
	}
	if r.lock != nil {
		// Still holding the lock: a process that takes it from now on
		// finds the lock file gone and tries again (lockDir).
		os.Remove(filepath.Join(r.dir, "lock"))
		os.Remove(r.dir)
		r.lock.Close()
		r.lock = nil
	}
	if len(r.recs) > 0 || n > 0 {
		e.log.Info("recovered the spool of a dead run", "process", r.processID, "settlements", len(r.recs), "leases_released", n)
	}
	return len(r.recs), n, nil
}

// recoverOwn recovers what a previous run of this process id left in its
// directory, retrying until it succeeds or the engine stops, then opens
// the gate: until then this process grants itself no lease, so that
// releasing the previous run's leases releases none of this run's.
func (e *Engine) recoverOwn(r *recovery) {
	defer close(e.recovered)
	backoff := 50 * time.Millisecond
	for {
		if _, _, err := e.recover(context.Background(), r); err == nil {
			return
		} else {
			e.log.Warn("recover the spool of this process's previous run", "err", err)
		}
		select {
		case <-e.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// adoptLoop adopts the spool directories of dead processes, at once and then
// every AdoptInterval.
func (e *Engine) adoptLoop() {
	e.adopt(context.Background())
	t := time.NewTicker(e.cfg.AdoptInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.adopt(context.Background())
		}
	}
}

// adopt recovers every spool directory under the spool base whose lock is
// free: its process is dead. It returns how many it recovered.
func (e *Engine) adopt(ctx context.Context) int {
	e.adoptMu.Lock()
	defer e.adoptMu.Unlock()
	ents, err := os.ReadDir(e.cfg.SpoolDir)
	if err != nil {
		return 0
	}
	own := e.batch.sp.dir
	done := 0
	for _, ent := range ents {
		if !ent.IsDir() || e.closed.Load() {
			continue
		}
		dir := filepath.Join(e.cfg.SpoolDir, ent.Name())
		if dir == own {
			continue
		}
		lock, err := lockDir(dir)
		if err != nil || lock == nil {
			continue // alive (or just deleted by another adopter)
		}
		files, _ := runFiles(dir)
		r := &recovery{processID: ent.Name(), dir: dir, files: files, lock: lock}
		if _, _, err := e.recover(ctx, r); err != nil {
			// Let go: this process or another tries again later.
			e.log.Warn("adopt the spool of a dead process", "process", r.processID, "err", err)
			lock.Close()
			continue
		}
		done++
	}
	return done
}

// gatedLedger holds lease grants until the previous run of this process id
// is recovered (see recoverOwn).
type gatedLedger struct {
	wattfare.Ledger
	ready <-chan struct{}
}

func (g *gatedLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return wattfare.LeaseGrant{}, fmt.Errorf("waiting for this process's previous run to be recovered: %w", ctx.Err())
	}
	return g.Ledger.GrantLease(ctx, r)
}
