package controlplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestWritesThatStopSpendingWaitForLeases: each write that narrows what the
// data plane may admit returns only after the open leases in its scope are
// surrendered (here by a goroutine playing the data-plane process that got
// the notification).
func TestWritesThatStopSpendingWaitForLeases(t *testing.T) {
	t.Parallel()
	h := setup(t)
	admin, adminID := h.signUp("lw-admin@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)

	for _, tc := range []struct {
		name      string
		committed string // SQL that is true once the write is committed
		mutation  func(f *fixture) (*browser, string, map[string]any)
	}{
		{"RevokeKey", `SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.dev, `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar(f.keyID)
			}},
		{"LowerCap", `SELECT count(*) FROM connections WHERE monthly_cap = 3000000000 AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.user, `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "3") { id } }`, idVar(f.connID)
			}},
		{"RevokeConnection", `SELECT count(*) FROM connections WHERE status = 'revoked' AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.user, `mutation($id: ID!) { revokeConnection(connectionId: $id) { id } }`, idVar(f.connID)
			}},
		{"SuspendApp", `SELECT count(*) FROM apps WHERE suspended_at IS NOT NULL AND id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return admin, `mutation($id: ID!) { suspendApp(appId: $id, reason: "abuse") { id } }`, idVar(f.appID)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h, "lw"+strings.ToLower(tc.name))
			lease := "lease_" + tc.name
			h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
				VALUES ($1, $2, $3, 'test', $4, 'proc-a', 100, now() + interval '1 minute')`, lease, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
			done := make(chan struct{})
			go func() {
				defer close(done)
				for h.count(tc.committed, f.appID) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				h.pool.Exec(context.Background(), `UPDATE leases SET released_at = now() WHERE id = $1`, lease)
			}()
			b, q, vars := tc.mutation(f)
			b.mustDo(q, vars, nil)
			if n := h.count(`SELECT count(*) FROM leases WHERE id = $1 AND released_at IS NULL`, lease); n != 0 {
				t.Fatalf("%s returned while its lease was open", tc.name)
			}
			<-done
		})
	}

	// Leases granted after the write for what it left allowed (the app's
	// other keys, the connection under its new cap) do not hold it up: a
	// revoke under load returns when the leases it stopped are gone.
	for _, tc := range []struct {
		name      string
		committed string
		mutation  func(f *fixture) (*browser, string, map[string]any)
	}{
		{"RevokeKeyWhileOtherKeysLease", `SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.dev, `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar(f.keyID)
			}},
		{"LowerCapWhileLeasing", `SELECT count(*) FROM connections WHERE monthly_cap = 3000000000 AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.user, `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "3") { id } }`, idVar(f.connID)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h, "lw"+strings.ToLower(tc.name))
			before, after := "lease_before_"+tc.name, "lease_after_"+tc.name
			h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
				VALUES ($1, $2, $3, 'test', $4, 'proc-a', 100, now() + interval '1 hour')`, before, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
			done := make(chan struct{})
			go func() {
				defer close(done)
				for h.count(tc.committed, f.appID) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				// The process hears the change, surrenders, and leases anew.
				ctx := context.Background()
				h.pool.Exec(ctx, `UPDATE leases SET released_at = now() WHERE id = $1`, before)
				h.pool.Exec(ctx, `INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
					VALUES ($1, $2, $3, 'test', $4, 'proc-a', 100, now() + interval '1 hour')`, after, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
			}()
			b, q, vars := tc.mutation(f)
			b.mustDo(q, vars, nil) // no PROPAGATION_PENDING
			if n := h.count(`SELECT count(*) FROM leases WHERE id = $1 AND released_at IS NULL`, before); n != 0 {
				t.Fatalf("%s returned while the lease it stopped was open", tc.name)
			}
			<-done
		})
	}

	t.Run("RaiseCapDoesNotWait", func(t *testing.T) {
		f := newFixture(t, h, "lwraise")
		h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
			VALUES ('lease_raise', $1, $2, 'test', $3, 'proc-a', 100, now() + interval '1 hour')`, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
		var out struct{ SetConnectionCap struct{ MonthlyCap string } }
		f.user.mustDo(`mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "50") { monthlyCap } }`, idVar(f.connID), &out)
		if out.SetConnectionCap.MonthlyCap != "50.00" {
			t.Fatalf("raise = %+v", out)
		}
	})
}
