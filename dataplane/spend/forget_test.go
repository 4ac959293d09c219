package spend_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// TestIdleConnectionForgotten: what the engine keeps of a connection goes
// once its lease was returned and ForgetAfter passed, so that a process's
// memory does not grow with every user it ever served; the connection's
// next request works, on a new lease from the ledger.
func TestIdleConnectionForgotten(t *testing.T) {
	t.Parallel()
	l := &memLedger{}
	e, err := spend.New(spend.Config{SpoolDir: t.TempDir(), Logger: quiet, LeaseTTL: 2 * time.Second,
		IdleAfter: 50 * time.Millisecond, ForgetAfter: 200 * time.Millisecond, MaxLease: wattfare.USD(1)}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	ctx := context.Background()
	admitSettle := func(id string) {
		t.Helper()
		h, err := e.Admit(ctx, benchPayer, spend.Admission{RequestID: id, Amount: wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		h.Settle(wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", Endpoint: "chat", Status: "ok", Cost: wattfare.Cent / 2})
	}
	admitSettle("req_1")
	if _, ok := e.Remaining(ctx, benchPayer, time.Now()); !ok {
		t.Fatal("no remaining figure")
	}
	if n := e.Stats().Connections; n != 1 {
		t.Fatalf("%d connections in memory, want 1", n)
	}
	grants := l.grants.Load()
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle connection is still in memory (%+v)", e.Stats())
		}
		time.Sleep(20 * time.Millisecond) // polling an observable state, with a deadline
	}
	if r := e.Stats().LeasesReturned; r < 1 {
		t.Errorf("%d leases returned before the connection was forgotten, want its lease back", r)
	}
	admitSettle("req_2")
	if l.grants.Load() <= grants || e.Stats().Connections != 1 {
		t.Errorf("the forgotten connection's next request: %d grants (before %d), %d connections in memory",
			l.grants.Load(), grants, e.Stats().Connections)
	}
}
