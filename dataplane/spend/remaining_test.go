package spend_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// figuresLedger grants leases with fixed period and wallet figures and
// counts Budget reads.
type figuresLedger struct {
	memLedger
	budgets atomic.Int64
	granted atomic.Int64 // the last grant
}

func (f *figuresLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	f.granted.Store(int64(r.Amount))
	return wattfare.LeaseGrant{Granted: r.Amount, ExpiresAt: time.Now().Add(r.TTL), Cap: wattfare.USD(10),
		Captured: wattfare.USD(2), WalletAvailable: wattfare.USD(5)}, nil
}

func (f *figuresLedger) Budget(context.Context, string, time.Time) (wattfare.Budget, error) {
	f.budgets.Add(1)
	return wattfare.Budget{Cap: wattfare.USD(10)}, nil
}

// TestRemainingOfColdConnection: the first request of a connection this
// process never saw gets its Wattfare-Budget-Remaining figure from the
// lease grant that admitted it, without a Budget read (a Postgres round
// trip and transaction per cold connection): the cap less what is captured
// and what this request holds, or the wallet's balance (the grant's own
// reserve added back) less the hold, whichever is less.
func TestRemainingOfColdConnection(t *testing.T) {
	t.Parallel()
	l := &figuresLedger{}
	e, err := spend.New(spend.Config{SpoolDir: t.TempDir(), Logger: quiet, MaxLease: wattfare.USD(1)}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	ctx := context.Background()
	p := spend.Payer{ConnectionID: "conn_cold", AccountID: "acct_cold", AppID: "app_x", KeyID: "key_x",
		AppUserID: "u", Mode: wattfare.ModeTest, MonthlyCap: wattfare.USD(10)}
	h, err := e.Admit(ctx, p, spend.Admission{RequestID: "req_1", Amount: wattfare.Cent * 50})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	got, ok := e.Remaining(ctx, p, time.Now())
	if !ok {
		t.Fatal("no remaining figure")
	}
	if l.budgets.Load() != 0 {
		t.Errorf("Remaining read the ledger's budget %d times for a connection just admitted", l.budgets.Load())
	}
	// The grant: cap 10, captured 2, wallet 5 after a reserve of g; this
	// request holds 0.50.
	g, hold := wattfare.Money(l.granted.Load()), h.Amount()
	if want := min(wattfare.USD(10)-wattfare.USD(2)-hold, wattfare.USD(5)+g-hold); got != want || hold != wattfare.Cent*50 {
		t.Errorf("remaining %s (hold %s, grant %s), want %s", got, hold, g, want)
	}
}
