package controlplane_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

const upstreamKeysQuery = `{ admin { upstreamKeys(latest: 10) { enabled checks {
	connectionId period checkedAt metered upstream drift limit disabled } } } }`

type upstreamKeysOut struct {
	Admin struct {
		UpstreamKeys struct {
			Enabled bool
			Checks  []struct {
				ConnectionID             string
				Period, CheckedAt        time.Time
				Metered, Upstream, Drift string
				Limit                    *string
				Disabled                 bool
			}
		}
	}
}

// Admins see the backstop's reconciliation, largest drift first, exact to
// the nano-dollar; without key management it says it is off.
func TestAdminUpstreamKeys(t *testing.T) {
	t.Parallel()
	t.Run("Off", func(t *testing.T) {
		h := setup(t)
		admin, adminID := h.signUp("root@example.com")
		h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
		var out upstreamKeysOut
		admin.mustDo(upstreamKeysQuery, nil, &out)
		if out.Admin.UpstreamKeys.Enabled || len(out.Admin.UpstreamKeys.Checks) != 0 {
			t.Fatalf("%+v", out)
		}
	})

	pool := pgtest.NewPool(t)
	cfg := controlplane.WithPostgres(controlplane.Config{
		PublicURL: "http://example.com", DataURL: "http://data.example.com",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, pool, 10*time.Second)
	cfg.Services.Backstop = &postgres.UpstreamKeys{DB: pool}
	s, err := controlplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, h: s.Handler()}
	f := newFixture(t, h, "pk")
	h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ('conn_pk2', $1, 'live', 'user-2', $2, 5000000000)`, f.appID, f.userID)
	h.exec(`INSERT INTO upstream_key_checks (connection_id, hash, period, checked_at, ours, upstream, key_limit, disabled) VALUES
		($1, 'h1', '2026-12-01', now() - interval '2 days', 100, 100, 10000000000, false),
		($1, 'h1', '2026-12-01', now() - interval '1 day', 2500000000, 2500000000, 10000000000, false),
		('conn_pk2', 'h2', '2026-12-01', now(), 1000000001, 1500000002, NULL, true)`, f.connID)
	admin, adminID := h.signUp("root@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)

	t.Run("ErrNotAdmin", func(t *testing.T) {
		f.dev.wantCode("FORBIDDEN", "", upstreamKeysQuery, nil)
	})
	t.Run("OK", func(t *testing.T) {
		var out upstreamKeysOut
		admin.mustDo(upstreamKeysQuery, nil, &out)
		r := out.Admin.UpstreamKeys
		if !r.Enabled || len(r.Checks) != 2 {
			t.Fatalf("%+v", r)
		}
		d := r.Checks[0]
		if d.ConnectionID != "conn_pk2" || d.Metered != "1.000000001" || d.Upstream != "1.500000002" || d.Drift != "0.500000001" || d.Limit != nil || !d.Disabled {
			t.Fatalf("largest drift first: %+v", d)
		}
		d = r.Checks[1]
		if d.ConnectionID != f.connID || d.Metered != "2.50" || d.Drift != "0.00" || d.Limit == nil || *d.Limit != "10.00" || d.Period.Format("2006-01-02") != "2026-12-01" {
			t.Fatalf("the newest check of the connection: %+v", d)
		}
	})
	t.Run("ErrLatest", func(t *testing.T) {
		admin.wantCode("INVALID_INPUT", "latest", `{ admin { upstreamKeys(latest: 501) { enabled } } }`, nil)
	})
}
