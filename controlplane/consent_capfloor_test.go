package controlplane

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestApproveCapBelowSpend: approving an app again (to change the cap in the
// consent popup) cannot set a cap below what the connection already spent
// this period. The popup is told the least cap allowed; nothing changes.
func TestApproveCapBelowSpend(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := mint(t, h.acmeLive, "carol", wattfare.USD(10), time.Now(), 5*time.Minute)
	if res, body := h.approve(t, tok, acmeOrigin, "5", h.user); res.StatusCode != 200 {
		t.Fatalf("approve: %d %v", res.StatusCode, body)
	}
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO connection_periods (connection_id, period, captured)
		SELECT id, $2, 3000000000 FROM connections WHERE app_id = $1 AND app_user_id = 'carol'`, h.acme, wattfare.PeriodStart(time.Now())); err != nil {
		t.Fatal(err)
	}

	t.Run("ErrBelowSpend", func(t *testing.T) {
		tok := mint(t, h.acmeLive, "carol", wattfare.USD(10), time.Now(), 5*time.Minute)
		res, body := h.approve(t, tok, acmeOrigin, "2.99", h.user)
		e, _ := body["error"].(map[string]any)
		md, _ := e["metadata"].(map[string]any)
		if res.StatusCode != http.StatusBadRequest || e["code"] != "invalid_request" || e["field"] != "monthlyCap" ||
			md["minimum"] != "3.00" || md["spent"] != "3.00" || !strings.Contains(e["message"].(string), "at least $3.00") {
			t.Fatalf("approve under the spend: %d %v", res.StatusCode, body)
		}
		if st, cap, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "carol"); st != "active" || cap != wattfare.USD(5) {
			t.Fatalf("the refused approval changed the connection: %s %s", st, cap)
		}
	})

	t.Run("OK", func(t *testing.T) {
		tok := mint(t, h.acmeLive, "carol", wattfare.USD(10), time.Now(), 5*time.Minute)
		if res, body := h.approve(t, tok, acmeOrigin, "3", h.user); res.StatusCode != 200 || body["monthly_cap_usd"] != "3.00" {
			t.Fatalf("approve at the spend: %d %v", res.StatusCode, body)
		}
	})
}
