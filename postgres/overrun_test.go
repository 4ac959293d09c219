package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestOverrun settles requests that cost more than their lease, the cap or
// the wallet could cover, and checks that the ledger keeps each cost as
// the data plane measured it next to what it captured, and that admins see
// the difference: the period's total and the latest overruns.
func TestOverrun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_o', 'o@example.com', 'x')`)
	exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ('acct_o', 'test', 10000), ('acct_o', 'live', 10000)`)
	exec(`INSERT INTO apps (id, owner_id, name) VALUES ('app_o', 'acct_o', 'Overrun')`)
	exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES
	      ('conn_o', 'app_o', 'test', 'user_o', 'acct_o', 1000),
	      ('conn_o_live', 'app_o', 'live', 'user_o', 'acct_o', 0)`)

	ledger := postgres.NewLedger(db)
	feb := time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)
	march := feb.AddDate(0, 1, 0)
	g, err := ledger.GrantLease(ctx, wattfare.LeaseRequest{LeaseID: "lease_o", ProcessID: "proc_o", ConnectionID: "conn_o",
		Period: march, Amount: 1000, Need: 1000, TTL: time.Hour})
	if err != nil || g.Granted != 1000 {
		t.Fatalf("grant: %+v, %v", g, err)
	}
	st := func(id string, at time.Time, lease string, fromLease, cost wattfare.Money) wattfare.Settlement {
		conn, mode := "conn_o", wattfare.ModeTest
		if id == "req_live" {
			conn, mode = "conn_o_live", wattfare.ModeLive
		}
		return wattfare.Settlement{RequestID: id, At: at, LeaseID: lease, FromLease: fromLease, ConnectionID: conn,
			AccountID: "acct_o", AppID: "app_o", AppUserID: "user_o", KeyID: "key_o", Mode: mode,
			Usage: wattfare.Usage{Model: "m/o", Cost: cost}}
	}
	commit := func(ss []wattfare.Settlement, releases ...string) {
		t.Helper()
		if err := ledger.Commit(ctx, ss, releases); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	// req_a took 600 from the lease and cost 2500; the other 400 of the
	// lease stay held, so the cap has no room for the rest.
	commit([]wattfare.Settlement{
		st("req_a", march.Add(9*24*time.Hour), "lease_o", 600, 2500),
		st("req_b", march.Add(9*24*time.Hour+time.Minute), "lease_o", 100, 100),
	}, "lease_o")
	// No lease (released): charged from the cap's room, 1000 - 700 = 300.
	commit([]wattfare.Settlement{st("req_c", march.Add(19*24*time.Hour), "", 0, 500)})
	// Last month: the cap's 1000 of 1500. And a live-mode overrun.
	commit([]wattfare.Settlement{st("req_d", feb.Add(9*24*time.Hour), "", 0, 1500)})
	commit([]wattfare.Settlement{st("req_live", march.Add(24*time.Hour), "", 0, 70)})

	// cost is the data plane's, unchanged; charged is what was captured.
	for id, want := range map[string][2]int64{
		"req_a": {2500, 600}, "req_b": {100, 100}, "req_c": {500, 300}, "req_d": {1500, 1000}, "req_live": {70, 0},
	} {
		var cost, charged int64
		if err := db.QueryRow(ctx, `SELECT cost, charged FROM usage_events WHERE request_id = $1`, id).Scan(&cost, &charged); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if [2]int64{cost, charged} != want {
			t.Errorf("%s: cost, charged = %d, %d; want %d, %d", id, cost, charged, want[0], want[1])
		}
	}

	usage := &postgres.Usage{DB: db}
	t.Run("OK", func(t *testing.T) {
		o, err := usage.PlatformOverrun(ctx, wattfare.ModeTest, march.Add(20*24*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if !o.PeriodStart.Equal(march) || !o.PeriodEnd.Equal(march.AddDate(0, 1, 0)) {
			t.Errorf("period = %v to %v, want March 2030", o.PeriodStart, o.PeriodEnd)
		}
		if o.Total != 1900+200 || o.Requests != 2 {
			t.Errorf("total = %d over %d requests, want 2100 over 2", o.Total, o.Requests)
		}
		var ids []string
		for _, e := range o.Latest {
			ids = append(ids, e.RequestID)
		}
		if want := []string{"req_c", "req_a", "req_d"}; len(ids) != len(want) || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
			t.Fatalf("latest = %v, want %v (newest first, any period, test mode only)", ids, want)
		}
		if e := o.Latest[1]; e.Cost != 2500 || e.Charged != 600 || e.Overrun() != 1900 || e.ConnectionID != "conn_o" || e.Model != "m/o" {
			t.Errorf("req_a = %+v", e)
		}
	})
	t.Run("LastPeriod", func(t *testing.T) {
		o, err := usage.PlatformOverrun(ctx, wattfare.ModeTest, feb, 1)
		if err != nil {
			t.Fatal(err)
		}
		if o.Total != 500 || o.Requests != 1 || len(o.Latest) != 1 || o.Latest[0].RequestID != "req_c" {
			t.Errorf("February: total %d over %d, latest %+v; want 500 over 1, latest req_c", o.Total, o.Requests, o.Latest)
		}
	})
	t.Run("Live", func(t *testing.T) {
		o, err := usage.PlatformOverrun(ctx, wattfare.ModeLive, march, 10)
		if err != nil {
			t.Fatal(err)
		}
		if o.Total != 70 || len(o.Latest) != 1 {
			t.Errorf("live: total %d, %d latest; want 70, 1", o.Total, len(o.Latest))
		}
	})
	t.Run("None", func(t *testing.T) {
		o, err := usage.PlatformOverrun(ctx, wattfare.ModeTest, march.AddDate(0, 2, 0), 10)
		if err != nil {
			t.Fatal(err)
		}
		if o.Total != 0 || o.Requests != 0 {
			t.Errorf("May: total %d over %d, want none", o.Total, o.Requests)
		}
	})
	t.Run("ErrInvalidFirst", func(t *testing.T) {
		for _, n := range []int{0, postgres.MaxOverrunEvents + 1} {
			if _, err := usage.PlatformOverrun(ctx, wattfare.ModeTest, march, n); wattfare.ErrorCode(err) != wattfare.EINVALID {
				t.Errorf("latest %d: %v, want INVALID_INPUT", n, err)
			}
		}
	})
}
