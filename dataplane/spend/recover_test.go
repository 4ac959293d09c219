package spend_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/postgres"
)

// Tests of DESIGN.md invariant 5 for streams: a killed process loses no
// usage of bytes that left it. Streams checkpoint what they delivered; the
// dead process's leases keep holding the budget until its spool and
// checkpoints are charged (by an adopter or a restart), or until an
// operator abandons them.

// streamUsage is a stream's usage after `tokens` completion tokens at 0.1¢.
func streamUsage(tokens int64) wattfare.Usage {
	return wattfare.Usage{Model: "sandbox/pricey", Upstream: "sandbox", Endpoint: "chat", Stream: true, Status: "ok",
		PromptTokens: 10, CompletionTokens: tokens, Cost: wattfare.Money(tokens) * wattfare.Cent / 10}
}

// expire makes a process's leases expired, as they are some time after it
// died, without waiting for it.
func (v *env) expire(processID string) {
	v.t.Helper()
	if _, err := v.pool.Exec(context.Background(),
		`UPDATE leases SET expires_at = now() - interval '1 second' WHERE process_id = $1`, processID); err != nil {
		v.t.Fatal(err)
	}
}

type event struct {
	status        string
	cost, charged wattfare.Money
	completion    int64
}

// usageEvents returns a connection's usage events by request id.
func (v *env) usageEvents(connectionID string) map[string]event {
	v.t.Helper()
	rows, err := v.pool.Query(context.Background(),
		`SELECT request_id, status, cost, charged, completion_tokens FROM usage_events WHERE connection_id = $1`, connectionID)
	if err != nil {
		v.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]event{}
	for rows.Next() {
		var id string
		var e event
		var cost, charged int64
		if err := rows.Scan(&id, &e.status, &cost, &charged, &e.completion); err != nil {
			v.t.Fatal(err)
		}
		e.cost, e.charged = wattfare.Money(cost), wattfare.Money(charged)
		out[id] = e
	}
	if err := rows.Err(); err != nil {
		v.t.Fatal(err)
	}
	return out
}

// TestAdoptWhileRunningChargesCheckpoints kills a process with six streams
// open; a process already running adopts its spool and charges each stream
// what it had delivered, in full, although the dead process's leases
// expired and the cap has no room for anyone else meanwhile.
func TestAdoptWhileRunningChargesCheckpoints(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	survivor := v.engine(func(c *spend.Config) { c.AdoptInterval = -1 })

	ledger := &stalledLedger{Ledger: postgres.NewLedger(v.pool)}
	dead, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: 3 * time.Second,
		ProcessID: "victim", AdoptInterval: -1}, ledger)
	if err != nil {
		t.Fatal(err)
	}
	var want wattfare.Money
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = reqID()
		h, err := dead.Admit(context.Background(), payer(f), spend.Admission{RequestID: ids[i], Amount: 12 * wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		// Every SSE event checkpoints; the last one before the kill counts.
		for tok := int64(1); tok <= int64(60+10*i); tok++ {
			if u := streamUsage(tok); u.Cost > h.Amount() && !h.Grow(u.Cost+2*wattfare.Cent) {
				t.Fatalf("stream %d cannot grow to %s", i, u.Cost)
			}
			u := streamUsage(tok)
			h.Checkpoint(&u)
		}
		want += streamUsage(int64(60 + 10*i)).Cost
	}
	// A seventh request finished just before the kill: its final record is
	// in the spool, not yet committed.
	done, err := dead.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_done", Amount: 5 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	u := streamUsage(20)
	done.Checkpoint(&u)
	ledger.stall()
	done.Settle(streamUsage(30))
	want += streamUsage(30).Cost // 0.03
	dead.Crash()
	v.expire("victim")
	v.check()

	// The dead process's leases still hold its budget: had they been
	// released on expiry, this would take the room its streams must be
	// charged from.
	if _, err := survivor.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 30 * wattfare.Cent}); code(err) != wattfare.ECapReached {
		t.Fatalf("admitted against the dead process's held budget: %v", err)
	}

	if n := survivor.Adopt(context.Background()); n != 1 {
		t.Fatalf("adopted %d spools, want 1", n)
	}
	period := wattfare.PeriodStart(time.Now())
	if got := v.captured(f, period); got != want {
		t.Fatalf("captured %s after adoption, want %s (every checkpoint in full, and the spooled record)", got, want)
	}
	evs := v.usageEvents(f.ConnectionID)
	for i, id := range ids {
		e, c := evs[id], streamUsage(int64(60+10*i)).Cost
		if e.status != wattfare.StatusInterrupted || e.cost != c || e.charged != c || e.completion != int64(60+10*i) {
			t.Errorf("stream %d: %+v, want interrupted, cost and charged %s", i, e, c)
		}
	}
	if e := evs["req_done"]; e.status != "ok" || e.charged != 3*wattfare.Cent {
		t.Errorf("the settled request: %+v, want its final record (ok, 0.03)", e)
	}
	if n := v.openLeases("victim"); n != 0 {
		t.Fatalf("%d leases of the dead process open after adoption", n)
	}
	v.check()

	// What the dead process held beyond its delivered spend is free again
	// (asked of a process that has not cached the refusal above).
	rest := wattfare.USD(1) - want
	other := v.engine(func(c *spend.Config) { c.AdoptInterval = -1 })
	h, err := other.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: rest})
	if err != nil {
		t.Fatalf("the rest of the cap (%s) after adoption: %v", rest, err)
	}
	h.Settle(usage(rest))
	v.quiesce(survivor, other)
	if got := v.captured(f, period); got != wattfare.USD(1) {
		t.Fatalf("captured %s, want the whole cap", got)
	}
	if left, _ := filepath.Glob(filepath.Join(v.spool, "*", "*")); len(left) != 0 {
		t.Fatalf("spool files left: %v", left)
	}
}

// TestRestartReplaysCheckpoints restarts a killed process under its own id:
// the new run charges the old run's checkpoints and releases its leases
// before it takes any lease of its own.
func TestRestartReplaysCheckpoints(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	cfg := spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: 3 * time.Second, ProcessID: "phoenix", AdoptInterval: -1}
	first, err := spend.New(cfg, postgres.NewLedger(v.pool))
	if err != nil {
		t.Fatal(err)
	}
	var want wattfare.Money
	for i := range 3 {
		h, err := first.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 20 * wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		u := streamUsage(int64(50 + i))
		h.Checkpoint(&u)
		want += u.Cost
	}
	first.Crash()

	second, err := spend.New(cfg, postgres.NewLedger(v.pool))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Recovered():
	case <-time.After(10 * time.Second):
		t.Fatal("the previous run was not recovered")
	}
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != want {
		t.Fatalf("captured %s after the restart, want %s", got, want)
	}
	if n := v.openLeases("phoenix"); n != 0 {
		t.Fatalf("%d leases of the previous run still open", n)
	}
	evs := v.usageEvents(f.ConnectionID)
	if len(evs) != 3 {
		t.Fatalf("%d usage events, want 3", len(evs))
	}
	for id, e := range evs {
		if e.status != wattfare.StatusInterrupted || e.charged != e.cost {
			t.Errorf("%s: %+v", id, e)
		}
	}
	h, err := second.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.USD(1) - want})
	if err != nil {
		t.Fatalf("the rest of the cap after the restart: %v", err)
	}
	h.Settle(usage(h.Amount()))
	v.quiesce(second)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.USD(1) {
		t.Fatalf("captured %s, want the whole cap", got)
	}
}

// commitWatch passes commits through and says when one committed records.
type commitWatch struct {
	*postgres.Ledger
	mu        sync.Mutex
	committed chan struct{}
}

func (c *commitWatch) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	err := c.Ledger.Commit(ctx, ss, rel)
	if err == nil && len(ss) > 0 {
		c.mu.Lock()
		if c.committed != nil {
			close(c.committed)
			c.committed = nil
		}
		c.mu.Unlock()
	}
	return err
}

func saveFiles(t *testing.T, glob string) map[string][]byte {
	t.Helper()
	names, _ := filepath.Glob(glob)
	if len(names) == 0 {
		t.Fatalf("no file matches %s", glob)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func restoreFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	for n, b := range files {
		if err := os.WriteFile(n, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSettleAfterCheckpointChargesOnce kills a process between a stream's
// final record and the freeing of its checkpoint (the checkpoint files are
// put back as they were before Settle): once with the record still in the
// spool, once with it committed already. Either way the request is charged
// once, its final cost.
func TestSettleAfterCheckpointChargesOnce(t *testing.T) {
	t.Parallel()
	for _, committed := range []bool{false, true} {
		name := map[bool]string{false: "spooled", true: "committed"}[committed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := setup(t)
			f := v.fixture(wattfare.USD(1), wattfare.USD(20))
			stalled := &stalledLedger{Ledger: postgres.NewLedger(v.pool)}
			landed := make(chan struct{})
			watch := &commitWatch{Ledger: postgres.NewLedger(v.pool), committed: landed}
			var ledger wattfare.Ledger = stalled
			if committed {
				ledger = watch
			}
			dead, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, ProcessID: "twice", AdoptInterval: -1}, ledger)
			if err != nil {
				t.Fatal(err)
			}
			h, err := dead.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_twice", Amount: 10 * wattfare.Cent})
			if err != nil {
				t.Fatal(err)
			}
			u := streamUsage(50)
			h.Checkpoint(&u)
			slots := saveFiles(t, filepath.Join(v.spool, "twice", "streams-*"))
			if !committed {
				stalled.stall()
			}
			h.Settle(streamUsage(70))
			if committed {
				select {
				case <-landed:
				case <-time.After(10 * time.Second):
					t.Fatal("the settlement never committed")
				}
			}
			dead.Crash()
			restoreFiles(t, slots) // the checkpoint is live again, next to (or after) the record

			survivor := v.engine(func(c *spend.Config) { c.AdoptInterval = -1 })
			if n := survivor.Adopt(context.Background()); n != 1 {
				t.Fatalf("adopted %d spools, want 1", n)
			}
			v.quiesce(survivor)
			if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 7*wattfare.Cent {
				t.Fatalf("captured %s, want the final 0.07 once", got)
			}
			evs := v.usageEvents(f.ConnectionID)
			if e := evs["req_twice"]; len(evs) != 1 || e.status != "ok" || e.charged != 7*wattfare.Cent {
				t.Fatalf("usage events %+v, want req_twice ok 0.07 only", evs)
			}
		})
	}
}

// TestAbandonCapturesLeasesInFull marks the spool of a dead process lost:
// its open leases are captured in full and released, and a process that
// may be alive is refused.
func TestAbandonCapturesLeasesInFull(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	ledger := postgres.NewLedger(v.pool)
	lost, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, ProcessID: "lost", AdoptInterval: -1}, ledger)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h, err := lost.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		u := streamUsage(40)
		h.Checkpoint(&u)
	}
	lost.Crash()
	// Its host is gone with its spool.
	if err := os.RemoveAll(filepath.Join(v.spool, "lost")); err != nil {
		t.Fatal(err)
	}

	if _, err := ledger.AbandonProcess(context.Background(), "lost"); !errors.Is(err, wattfare.ErrProcessAlive) {
		t.Fatalf("abandoned a process whose lease is unexpired: %v", err)
	}
	if n := v.openLeases("lost"); n == 0 {
		t.Fatal("the refused abandon released leases")
	}
	var held int64
	var leases int
	if err := v.pool.QueryRow(context.Background(),
		`SELECT coalesce(sum(amount), 0), count(*) FROM leases WHERE process_id = 'lost' AND released_at IS NULL`).Scan(&held, &leases); err != nil {
		t.Fatal(err)
	}
	v.expire("lost")
	got, err := ledger.AbandonProcess(context.Background(), "lost")
	if err != nil {
		t.Fatal(err)
	}
	if got != wattfare.Money(held) || held < int64(30*wattfare.Cent) {
		t.Fatalf("abandon captured %s, want the leases' whole %s", got, wattfare.Money(held))
	}
	if n := v.openLeases("lost"); n != 0 {
		t.Fatalf("%d leases open after abandon", n)
	}
	evs := v.usageEvents(f.ConnectionID)
	var sum wattfare.Money
	for id, e := range evs {
		if e.status != wattfare.StatusAbandoned || e.charged != e.cost || len(id) < len("abandon_") || id[:8] != "abandon_" {
			t.Errorf("%s: %+v, want an abandoned event charged in full", id, e)
		}
		sum += e.charged
	}
	if len(evs) != leases || sum != got {
		t.Fatalf("%d abandoned events for %s, want %d for %s", len(evs), sum, leases, got)
	}
	if got, err := ledger.AbandonProcess(context.Background(), "lost"); err != nil || got != 0 {
		t.Fatalf("a second abandon captured %s (%v)", got, err)
	}
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.Money(held) {
		t.Fatalf("captured %s, want %s", got, wattfare.Money(held))
	}
	v.quiesce()
}
