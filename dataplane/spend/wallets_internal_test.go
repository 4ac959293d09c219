package spend

import (
	"testing"

	"github.com/wattfare/wattfare"
)

// TestForgetWallets: the per-wallet counters of holds go with the last
// connection in memory that used them, so that they do not grow with every
// wallet ever seen; a counter still in use or still counting stays.
func TestForgetWallets(t *testing.T) {
	e := &Engine{}
	count := func() int {
		n := 0
		e.walletHolds.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	for range 1000 {
		e.connFor(Payer{ConnectionID: wattfare.NewID("conn_"), AccountID: wattfare.NewID("acct_"), Mode: wattfare.ModeTest})
	}
	kept := e.connFor(Payer{ConnectionID: "conn_kept", AccountID: "acct_kept", Mode: wattfare.ModeLive})
	busy := e.connFor(Payer{ConnectionID: "conn_busy", AccountID: "acct_busy", Mode: wattfare.ModeLive})
	busy.addHeld(wattfare.Cent)
	if n := count(); n != 1002 {
		t.Fatalf("%d counters, want 1002", n)
	}
	// The maintenance loop forgets idle connections: all but conn_kept.
	e.conns.Range(func(k, v any) bool {
		if v.(*connState) != kept {
			e.conns.Delete(k)
		}
		return true
	})
	e.forgetWallets()
	if n := count(); n != 2 {
		t.Errorf("%d counters after forgetting, want 2 (one in use, one counting a hold)", n)
	}
	// A connection of the busy wallet seen again shares its counter.
	again := e.connFor(Payer{ConnectionID: "conn_busy2", AccountID: "acct_busy", Mode: wattfare.ModeLive})
	if again.walletHeld != busy.walletHeld || again.walletHeld.Load() != int64(wattfare.Cent) {
		t.Errorf("the busy wallet's counter was replaced")
	}
}
