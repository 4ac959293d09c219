package spend

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wattfare/wattfare"
)

// batcher group-commits settlements and lease releases: one ledger
// transaction per batch, every BatchInterval or BatchSize records. Records
// reach the spool before they are queued, and a spool segment is deleted
// only after every record in it committed, so a crash loses nothing and a
// replay charges nothing twice (the usage_events key makes it idempotent).
type batcher struct {
	e  *Engine
	sp *spool

	mu       sync.Mutex
	pending  [][]wattfare.Settlement // chunks of at most BatchSize: one transaction each
	queued   int                     // settlements in pending
	free     [][]wattfare.Settlement // committed chunks, cleared, for reuse
	releases []string
	kick     chan struct{}
	idle     *sync.Cond // signalled after each flush
	flushing bool
	flushes  uint64 // flushes begun, for readers of pending (see pendingCharges)
	last     int    // settlements in the last flush, to size new chunks
	released uint64 // lease releases queued so far
}

// maxFreeChunks bounds the committed chunks kept for reuse: one being
// filled while one commits is the steady state.
const maxFreeChunks = 2

func newBatcher(e *Engine, sp *spool) *batcher {
	b := &batcher{e: e, sp: sp, kick: make(chan struct{}, 1)}
	b.idle = sync.NewCond(&b.mu)
	return b
}

// queue appends s to the last chunk, starting a new one when it holds
// BatchSize; the caller holds mu. A new chunk starts at about twice the
// last flush's size and grows up to BatchSize, so a quiet process does not
// keep a full batch's worth of records allocated.
func (b *batcher) queue(s *wattfare.Settlement) {
	n := len(b.pending)
	if n == 0 || len(b.pending[n-1]) >= b.e.cfg.BatchSize {
		var c []wattfare.Settlement
		if k := len(b.free); k > 0 {
			c, b.free = b.free[k-1], b.free[:k-1]
		} else {
			c = make([]wattfare.Settlement, 0, min(b.e.cfg.BatchSize, max(64, 2*b.last)))
		}
		b.pending = append(b.pending, c)
		n++
	}
	b.pending[n-1] = append(b.pending[n-1], *s)
	b.queued++
}

// settle spools s and queues it for the next batch. It reports whether s
// reached the spool: after Close it does not (the caller then keeps the
// request's checkpoint, which the next start or an adopter charges).
func (b *batcher) settle(s wattfare.Settlement) bool {
	b.mu.Lock()
	err := b.sp.append(&s)
	if err != nil {
		b.e.log.Error("spool settlement", "request", s.RequestID, "err", err)
	}
	b.queue(&s)
	n := b.queued
	b.mu.Unlock()
	if n == 1 || n >= b.e.cfg.BatchSize {
		b.signal()
	}
	return err == nil
}

// release queues a lease release; it commits after the settlements queued
// before it.
func (b *batcher) release(id string) {
	b.mu.Lock()
	b.released++
	b.releases = append(b.releases, id)
	b.mu.Unlock()
	b.signal()
}

func (b *batcher) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// run commits batches until stop. A batch gathers for BatchInterval from
// its first record (or, for records queued while the previous batch
// committed, from the end of that commit), and commits sooner only when it
// is full or a lease release waits (a revoke is waiting for it). What is
// queued while a batch commits gathers as the next batch rather than
// committing at once:
// back-to-back commits of whatever arrived during the previous one would
// make batches as small as the commit is fast, and each commit has a fixed
// cost in Postgres that a full batch spreads over a thousand requests.
func (b *batcher) run(stop <-chan struct{}) {
	backoff := retryBackoff
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		select {
		case <-stop:
			return
		case <-b.kick:
		case <-time.After(time.Second):
		}
		gather.Reset(b.e.cfg.BatchInterval)
	wait:
		for !b.urgent() {
			select {
			case <-stop:
				return
			case <-b.kick: // a full batch or a release, perhaps
			case <-gather.C:
				break wait
			}
		}
		gather.Stop()
		for {
			more, err := b.flush(context.Background())
			if err != nil {
				b.e.log.Warn("commit settlements", "err", err)
				// Retry after a backoff, or at once when a new lease
				// release comes in (a revoke waits for it).
				seen := b.releaseCount()
				retry := time.NewTimer(backoff)
			backoff:
				for {
					select {
					case <-stop:
						retry.Stop()
						return
					case <-b.kick:
						if b.releaseCount() != seen {
							break backoff
						}
					case <-retry.C:
						break backoff
					}
				}
				retry.Stop()
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = retryBackoff
			if !more {
				break
			}
			if !b.urgent() {
				// Queued during the commit: it gathers as the next batch.
				b.signal()
				break
			}
		}
	}
}

// retryBackoff is the first wait before a failed commit is retried; it
// doubles up to 2 s while the ledger keeps failing.
const retryBackoff = 20 * time.Millisecond

// releaseCount is how many lease releases were ever queued.
func (b *batcher) releaseCount() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.released
}

// urgent reports whether a batch should commit without gathering longer:
// it is full, or a lease release waits.
func (b *batcher) urgent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued >= b.e.cfg.BatchSize || len(b.releases) > 0
}

// flush commits what is queued, BatchSize settlements at a time. It
// reports whether anything is left (queued meanwhile or not yet committed).
func (b *batcher) flush(ctx context.Context) (bool, error) {
	b.mu.Lock()
	for b.flushing {
		b.idle.Wait()
	}
	if b.queued == 0 && len(b.releases) == 0 {
		b.mu.Unlock()
		return false, nil
	}
	b.flushing = true
	b.flushes++
	chunks, rels := b.pending, b.releases
	b.last = b.queued
	b.pending, b.releases, b.queued = nil, nil, 0
	segs, err := b.sp.rotate()
	b.mu.Unlock()
	if err != nil {
		b.e.log.Error("rotate spool", "err", err)
	}

	// Settlements first, chunk by chunk; the releases ride with the last.
	done := 0
	var cerr error
	for done < len(chunks) || (len(chunks) == 0 && rels != nil) {
		var r []string
		if done >= len(chunks)-1 {
			r = rels
		}
		var c []wattfare.Settlement
		if done < len(chunks) {
			c = chunks[done]
		}
		if cerr = b.commit(ctx, c, r); cerr != nil {
			break
		}
		if r != nil {
			rels = nil
		}
		done++
		if done >= len(chunks) {
			break
		}
	}

	b.mu.Lock()
	b.flushing = false
	for _, c := range chunks[:min(done, len(chunks))] {
		if len(b.free) < maxFreeChunks {
			clear(c)
			b.free = append(b.free, c[:0])
		}
	}
	if cerr != nil {
		// Put back what did not commit, ahead of newer records, and keep
		// the spool segments: a crash now replays them.
		back := chunks[min(done, len(chunks)):]
		for _, c := range back {
			b.queued += len(c)
		}
		b.pending = append(back[:len(back):len(back)], b.pending...)
		b.releases = append(rels[:len(rels):len(rels)], b.releases...)
		b.sp.keep(segs)
	} else {
		b.sp.remove(segs)
	}
	more := b.queued > 0 || len(b.releases) > 0
	b.idle.Broadcast()
	b.mu.Unlock()
	return more, cerr
}

// commit commits one chunk. When the ledger rejects it for good (a record
// it can never accept), it commits the records one by one and sets the
// rejected ones aside, so that one bad record cannot stall all billing.
func (b *batcher) commit(ctx context.Context, recs []wattfare.Settlement, rels []string) error {
	err := b.commitOnce(ctx, recs, rels)
	if err == nil || !errors.Is(err, wattfare.ErrRejected) {
		return err
	}
	for i := range recs {
		err := b.commitOnce(ctx, recs[i:i+1], nil)
		if errors.Is(err, wattfare.ErrRejected) {
			b.reject(&recs[i], err)
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(rels) == 0 {
		return nil
	}
	return b.commitOnce(ctx, nil, rels)
}

// commitOnce is one ledger transaction, given at most 10 s.
func (b *batcher) commitOnce(ctx context.Context, recs []wattfare.Settlement, rels []string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return b.e.ledger.Commit(ctx, recs, rels)
}

// reject logs a settlement the ledger refuses for good and keeps it in
// rejected.jsonl next to the spool, for an operator to look at.
func (b *batcher) reject(r *wattfare.Settlement, err error) {
	b.e.log.Error("settlement rejected by the ledger; kept in rejected.jsonl", "request", r.RequestID, "err", err)
	line, _ := json.Marshal(r)
	f, ferr := os.OpenFile(filepath.Join(b.e.cfg.SpoolDir, "rejected.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if ferr != nil {
		return
	}
	f.Write(append(line, '\n'))
	f.Close()
}

// drain commits everything until nothing is left or ctx ends, then closes
// the spool's segments (deleting them when empty). The directory's lock is
// the engine's to drop, after the stream checkpoints.
func (b *batcher) drain(ctx context.Context) error {
	var err error
	for {
		var more bool
		more, err = b.flush(ctx)
		if err == nil && !more {
			break
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	empty := b.queued == 0 && len(b.releases) == 0
	b.sp.close(empty)
	if err == nil && !empty {
		err = ctx.Err()
	}
	return err
}
