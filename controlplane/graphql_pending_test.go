package controlplane_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
)

// TestStopWritesCommittedWhileLeasesOpen: when a data-plane process keeps
// its lease past the wait, a revoke (or suspension, or lowered cap) still
// answers its committed result, never an error in its place; errors says
// PROPAGATION_PENDING with stopsBy, the time the open lease expires.
func TestStopWritesCommittedWhileLeasesOpen(t *testing.T) {
	t.Parallel()
	h := setupWait(t, 50*time.Millisecond, func(*controlplane.Config) {})
	admin, adminID := h.signUp("pp-admin@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)

	for _, tc := range []struct {
		name      string
		committed string // SQL true once the write is committed
		mutation  func(f *fixture) (*browser, string, map[string]any)
		field     string // the mutation's field in data
	}{
		{"RevokeKey", `SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.dev, `mutation($id: ID!) { revokeKey(keyId: $id) { id active revokedAt } }`, idVar(f.keyID)
			}, "revokeKey"},
		{"RollKeyNoOverlap", `SELECT count(*) FROM api_keys WHERE expires_at <= now() AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.dev, `mutation($id: ID!) { rollKey(keyId: $id, overlapSeconds: 0) { secret key { id } } }`, idVar(f.keyID)
			}, "rollKey"},
		{"LowerCap", `SELECT count(*) FROM connections WHERE monthly_cap = 3000000000 AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.user, `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "3") { id monthlyCap } }`, idVar(f.connID)
			}, "setConnectionCap"},
		{"RevokeConnection", `SELECT count(*) FROM connections WHERE status = 'revoked' AND app_id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return f.user, `mutation($id: ID!) { revokeConnection(connectionId: $id) { id status } }`, idVar(f.connID)
			}, "revokeConnection"},
		{"SuspendApp", `SELECT count(*) FROM apps WHERE suspended_at IS NOT NULL AND id = $1`,
			func(f *fixture) (*browser, string, map[string]any) {
				return admin, `mutation($id: ID!) { suspendApp(appId: $id, reason: "abuse") { id suspended } }`, idVar(f.appID)
			}, "suspendApp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h, "pp"+strings.ToLower(tc.name))
			// A lease that its process never surrenders.
			var expires time.Time
			if err := h.pool.QueryRow(t.Context(), `INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
				VALUES ($1, $2, $3, 'test', $4, 'proc-deaf', 100, now() + interval '1 hour') RETURNING expires_at`,
				"lease_pp_"+tc.name, f.connID, f.userID, wattfare.PeriodStart(time.Now())).Scan(&expires); err != nil {
				t.Fatal(err)
			}
			b, q, vars := tc.mutation(f)
			var out map[string]map[string]any
			errs := b.do(q, vars, &out)
			if out[tc.field] == nil || out[tc.field]["id"] == nil && out[tc.field]["secret"] == nil {
				t.Fatalf("%s answered no result: data %+v errors %+v", tc.name, out, errs)
			}
			if len(errs) != 1 || errs[0].code() != "PROPAGATION_PENDING" {
				t.Fatalf("%s errors = %+v, want one PROPAGATION_PENDING", tc.name, errs)
			}
			stopsBy, err := time.Parse(time.RFC3339Nano, errs[0].Extensions["stopsBy"].(string))
			if err != nil || !stopsBy.Equal(expires.Truncate(time.Millisecond)) {
				t.Fatalf("stopsBy = %v (%v), want the lease's expiry %v", errs[0].Extensions["stopsBy"], err, expires)
			}
			if strings.Contains(strings.ToLower(errs[0].Message), "internal") || !strings.HasPrefix(errs[0].Message, "done;") {
				t.Fatalf("message = %q", errs[0].Message)
			}
			if h.count(tc.committed, f.appID) == 0 {
				t.Fatalf("%s did not commit", tc.name)
			}
			if tc.name == "RevokeConnection" {
				// Asking again is not a way to be told it stopped.
				errs := b.do(q, vars, &out)
				if len(errs) != 1 || errs[0].code() != "PROPAGATION_PENDING" {
					t.Fatalf("second revoke errors = %+v", errs)
				}
			}
		})
	}

	t.Run("LeaseThatExpiresEndsTheWait", func(t *testing.T) {
		h := setup(t) // LeaseWait 10 s
		f := newFixture(t, h, "ppexp")
		h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
			VALUES ('lease_short', $1, $2, 'test', $3, 'proc-deaf', 100, now() + interval '200 milliseconds')`,
			f.connID, f.userID, wattfare.PeriodStart(time.Now()))
		var out struct{ RevokeConnection struct{ Status string } }
		f.user.mustDo(`mutation($id: ID!) { revokeConnection(connectionId: $id) { status } }`, idVar(f.connID), &out)
		if out.RevokeConnection.Status != "REVOKED" {
			t.Fatalf("revoke = %+v", out)
		}
	})
}
