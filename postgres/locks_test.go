package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// TestCapChangeDoesNotBlockSettlement holds a connection the way a cap
// change does (the control plane's first step) while a data plane commits
// a settlement and returns its lease in the same batch. That transaction
// updates the lease and the period row twice, so Postgres re-checks their
// foreign keys and takes a key-share lock on the connection: a cap change
// holding the connection FOR UPDATE blocked it, then waited for the period
// row the settlement held, and one of the two died in a deadlock. Held FOR
// NO KEY UPDATE (the cap is no key), the settlement goes through.
func TestCapChangeDoesNotBlockSettlement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, q := range []string{
		`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_lock', 'lock@example.com', 'x')`,
		`INSERT INTO wallets (account_id, mode, credits) VALUES ('acct_lock', 'test', 10000000)`,
		`INSERT INTO apps (id, owner_id, name) VALUES ('app_lock', 'acct_lock', 'Lock App')`,
		`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap)
		 VALUES ('conn_lock', 'app_lock', 'test', 'user_1', 'acct_lock', 1000000)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	ledger := postgres.NewLedger(pool)
	period := wattfare.PeriodStart(time.Now())
	g, err := ledger.GrantLease(ctx, wattfare.LeaseRequest{LeaseID: "lease_lock", ProcessID: "proc_lock",
		ConnectionID: "conn_lock", Period: period, Amount: 100_000, Need: 100_000, TTL: time.Hour})
	if err != nil || g.Granted != 100_000 {
		t.Fatalf("grant: %+v, %v", g, err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := sqlc.New().OwnedConnectionForUpdate(ctx, tx, sqlc.OwnedConnectionForUpdateParams{ID: "conn_lock", AccountID: "acct_lock"}); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s := wattfare.Settlement{RequestID: "req_lock", At: time.Now(), LeaseID: "lease_lock", FromLease: 5_000,
		ConnectionID: "conn_lock", AccountID: "acct_lock", AppID: "app_lock", AppUserID: "user_1", KeyID: "key_lock",
		Mode: wattfare.ModeTest, Usage: wattfare.Usage{Model: "sandbox/echo", Status: "ok", Cost: 4_000}}
	if err := ledger.Commit(cctx, []wattfare.Settlement{s}, []string{"lease_lock"}); err != nil {
		t.Fatalf("settlement with a lease release, while a cap change holds the connection: %v", err)
	}

	// The cap change goes on: it locks the period (settlements lock it too)
	// and commits.
	var captured int64
	if err := tx.QueryRow(ctx, `SELECT captured FROM connection_periods WHERE connection_id = 'conn_lock' FOR UPDATE`).Scan(&captured); err != nil || captured != 4_000 {
		t.Fatalf("captured %d (%v), want 4000", captured, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE connections SET monthly_cap = 500000 WHERE id = 'conn_lock'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := pool.QueryRow(ctx, `SELECT held FROM connection_periods WHERE connection_id = 'conn_lock'`).Scan(&held); err != nil || held != 0 {
		t.Fatalf("held %d (%v) after the lease came back, want 0", held, err)
	}
}
