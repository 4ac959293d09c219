package spend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/postgres"
)

// gatedLedger holds the first GrantLease for one connection until opened.
type gatedLedger struct {
	*postgres.Ledger
	conn    string
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (g *gatedLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	if r.ConnectionID == g.conn {
		first := false
		g.once.Do(func() { first = true })
		if first {
			close(g.entered)
			<-g.open
		}
	}
	return g.Ledger.GrantLease(ctx, r)
}

// TestCloseWaitsForAdmissionsAtTheLedger: a lease the ledger grants while
// the process shuts down is released with the others, not left open with
// its budget (no sweep releases a cleanly stopped process's leases).
func TestCloseWaitsForAdmissionsAtTheLedger(t *testing.T) {
	t.Parallel()
	v := setup(t)
	slow, other := v.fixture(wattfare.USD(5), wattfare.USD(20)), v.fixture(wattfare.USD(5), wattfare.USD(20))
	g := &gatedLedger{Ledger: postgres.NewLedger(v.pool), conn: slow.ConnectionID, entered: make(chan struct{}), open: make(chan struct{})}
	e, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: 3 * time.Second, ProcessID: "closing"}, g)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		h   *spend.Hold
		err error
	}
	admitted := make(chan result, 1)
	go func() {
		h, err := e.Admit(context.Background(), payer(slow), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
		admitted <- result{h, err}
	}()
	<-g.entered
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- e.Close(ctx)
	}()
	// Close has begun once admissions are refused as shutting down.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := e.Admit(context.Background(), payer(other), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
		if err != nil {
			if wattfare.ErrorCode(err) != wattfare.EUnavailable {
				t.Fatalf("admission during Close: %v", err)
			}
			break
		}
		h.Release()
		if time.Now().After(deadline) {
			t.Fatal("Close did not start refusing admissions")
		}
	}
	close(g.open) // the ledger grants the slow admission's lease now
	if r := <-admitted; r.err == nil {
		r.h.Release()
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := v.openLeases("closing"); n != 0 {
		t.Fatalf("%d leases left open by a process that stopped cleanly", n)
	}
}
