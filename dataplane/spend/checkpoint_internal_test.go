package spend

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// fakeLedger grants every lease in full and commits nothing.
type fakeLedger struct{}

func (fakeLedger) GrantLease(_ context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	return wattfare.LeaseGrant{Granted: r.Amount, ExpiresAt: time.Now().Add(r.TTL), Cap: wattfare.USD(1000)}, nil
}
func (fakeLedger) Commit(context.Context, []wattfare.Settlement, []string) error { return nil }
func (fakeLedger) ReleaseProcessLeases(context.Context, string) (int, error)     { return 0, nil }
func (fakeLedger) AbandonProcess(context.Context, string) (wattfare.Money, error) {
	return 0, nil
}
func (fakeLedger) CheckPayers(_ context.Context, c []wattfare.PayerCheck) ([]wattfare.PayerState, error) {
	return make([]wattfare.PayerState, len(c)), nil
}
func (fakeLedger) Budget(context.Context, string, time.Time) (wattfare.Budget, error) {
	return wattfare.Budget{}, nil
}
func (fakeLedger) ShrinkLease(context.Context, string, wattfare.Money) (wattfare.Money, error) {
	return 0, nil
}
func (fakeLedger) AnnouncePressure(context.Context, string) error { return nil }

// liveSlots reads the engine's checkpoint files as recovery would.
func liveSlots(t *testing.T, e *Engine) []checkpointed {
	t.Helper()
	var out []checkpointed
	for _, f := range slotFiles(e.batch.sp.dir) {
		c, err := readSlots(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c...)
	}
	return out
}

// TestCheckpointSlots covers the slot table: a checkpoint reads back as an
// interrupted settlement; a hold moved to another lease keeps one live
// slot, naming the new lease; settle and release free slots for reuse; more
// streams than a file's slots add a file.
func TestCheckpointSlots(t *testing.T) {
	e, err := New(Config{SpoolDir: t.TempDir(), ProcessID: "slots", AdoptInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, fakeLedger{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	p := Payer{ConnectionID: "conn_1", AccountID: "acct_1", AppID: "app_1", KeyID: "key_1", AppUserID: "user-1", Mode: wattfare.ModeTest}
	at := time.Date(2025, 3, 31, 23, 59, 59, 123456789, time.UTC)
	h, err := e.Admit(context.Background(), p, Admission{RequestID: "req_1", Amount: 10 * wattfare.Cent, At: at})
	if err != nil {
		t.Fatal(err)
	}
	u := wattfare.Usage{Model: "m", Upstream: "up", UpstreamID: "gen-1", Endpoint: "chat", Stream: true,
		PromptTokens: 3, CompletionTokens: 4, CachedTokens: 1, ReasoningTokens: 2, Cost: 12 * wattfare.Cent, Duration: time.Second}
	h.Checkpoint(&u)
	got := liveSlots(t, e)
	if len(got) != 1 {
		t.Fatalf("%d live slots, want 1", len(got))
	}
	s := got[0].s
	want := wattfare.Settlement{RequestID: "req_1", At: at, LeaseID: h.lease.id, FromLease: 10 * wattfare.Cent,
		ConnectionID: "conn_1", AccountID: "acct_1", AppID: "app_1", AppUserID: "user-1", KeyID: "key_1", Mode: wattfare.ModeTest,
		Usage: u}
	want.Usage.Status = wattfare.StatusInterrupted
	if s != want {
		t.Fatalf("checkpoint read back as\n%+v\nwant (FromLease capped at the hold)\n%+v", s, want)
	}

	// The lease is surrendered; growing moves the hold, and its checkpoint,
	// to a new lease.
	old := h.lease
	e.closeLease(old)
	if !h.Grow(20 * wattfare.Cent) {
		t.Fatal("grow onto a new lease failed")
	}
	if h.lease == old {
		t.Fatal("the hold did not move")
	}
	got = liveSlots(t, e)
	if len(got) != 1 || got[0].s.LeaseID != h.lease.id || got[0].seq != 1 || got[0].s.Usage.Cost != 12*wattfare.Cent {
		t.Fatalf("after the move: %+v, want one slot on lease %s, seq 1", got, h.lease.id)
	}
	u.Cost = 15 * wattfare.Cent
	h.Checkpoint(&u)
	if got = liveSlots(t, e); got[0].s.FromLease != 15*wattfare.Cent {
		t.Fatalf("FromLease %s, want 0.15 (the cost, within the grown hold)", got[0].s.FromLease)
	}
	h.Settle(u)
	if got = liveSlots(t, e); len(got) != 0 {
		t.Fatalf("%d live slots after Settle", len(got))
	}

	// More streams than one file holds.
	var holds []*Hold
	for i := range slotsPerFile + 10 {
		h, err := e.Admit(context.Background(), p, Admission{RequestID: "req_many", Amount: wattfare.NanoDollar})
		if err != nil {
			t.Fatal(err)
		}
		u := wattfare.Usage{Model: "m", Cost: wattfare.Money(i)}
		h.Checkpoint(&u)
		holds = append(holds, h)
	}
	if n := len(slotFiles(e.batch.sp.dir)); n != 2 {
		t.Fatalf("%d checkpoint files for %d streams, want 2", n, len(holds))
	}
	if got = liveSlots(t, e); len(got) != len(holds) {
		t.Fatalf("%d live slots, want %d", len(got), len(holds))
	}
	for _, h := range holds {
		h.Release()
	}
	if got = liveSlots(t, e); len(got) != 0 {
		t.Fatalf("%d live slots after Release", len(got))
	}
	if e.slots.live != 0 || len(e.slots.idle) != 2*slotsPerFile {
		t.Fatalf("slot table: %d live, %d free", e.slots.live, len(e.slots.idle))
	}
}
