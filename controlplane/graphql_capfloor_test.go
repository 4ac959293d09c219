package controlplane_test

import (
	"strings"
	"testing"
)

// TestCapBelowSpend: a user cannot set a connection's monthly cap below what
// it already spent this period (captured ≤ cap, DESIGN.md invariant 1). The
// refusal names the field and the least cap allowed, and changes nothing; a
// cap equal to the spend is fine.
func TestCapBelowSpend(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "cbs") // $10 cap, $2.50 captured, $0.50 held
	const m = `mutation($id: ID!, $cap: Money!) { setConnectionCap(connectionId: $id, monthlyCap: $cap) { monthlyCap spentThisPeriod remaining } }`

	t.Run("ErrBelowSpend", func(t *testing.T) {
		for _, cap := range []string{"2.49", "0", "0.000000001"} {
			e := f.user.wantCode("INVALID_INPUT", "monthlyCap", m, map[string]any{"id": f.connID, "cap": cap})
			if e.Extensions["spent"] != "2.50" || e.Extensions["minimum"] != "2.50" {
				t.Errorf("cap %s: extensions %v, want spent and minimum 2.50", cap, e.Extensions)
			}
			if !strings.Contains(e.Message, "at least $2.50") {
				t.Errorf("cap %s: message %q does not say the minimum", cap, e.Message)
			}
		}
		if n := h.count(`SELECT count(*) FROM connections WHERE id = $1 AND monthly_cap = 10000000000`, f.connID); n != 1 {
			t.Fatal("a refused cap changed the connection")
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'connection.cap' AND target_id = $1`, f.connID); n != 0 {
			t.Fatalf("a refused cap was audited (%d rows)", n)
		}
	})

	t.Run("OK", func(t *testing.T) {
		var out struct {
			SetConnectionCap struct{ MonthlyCap, SpentThisPeriod, Remaining string }
		}
		f.user.mustDo(m, map[string]any{"id": f.connID, "cap": "2.50"}, &out)
		if out.SetConnectionCap.MonthlyCap != "2.50" || out.SetConnectionCap.SpentThisPeriod != "2.50" || out.SetConnectionCap.Remaining != "0.00" {
			t.Fatalf("cap at the spend = %+v", out)
		}
		if n := h.count(`SELECT count(*) FROM connection_periods p JOIN connections c ON c.id = p.connection_id
			WHERE c.id = $1 AND p.captured > c.monthly_cap`, f.connID); n != 0 {
			t.Fatal("captured is over the cap")
		}
	})
}
