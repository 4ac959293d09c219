package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestApproveDoesNotUndoAConcurrentRevoke: the user revokes while a replayed
// approval (its token issued before the revoke) is in flight. Whichever
// order the database takes them in, the connection ends revoked.
func TestApproveDoesNotUndoAConcurrentRevoke(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_dev', 'dev@example.com', 'x'), ('acct_u', 'u@example.com', 'x')`)
	exec(`INSERT INTO apps (id, owner_id, name, allowed_origins) VALUES ('app_a', 'acct_dev', 'A', '{https://a.example}')`)
	store := &postgres.Consent{DB: pool}
	issued := time.Now().Add(-time.Minute)
	approval := wattfare.Approval{AppID: "app_a", Mode: wattfare.ModeLive, AppUserID: "u1", AccountID: "acct_u", MonthlyCap: wattfare.USD(5), IssuedAt: issued}
	if _, err := store.Approve(ctx, approval, time.Now()); err != nil {
		t.Fatal(err)
	}

	// The revoke is in flight: it holds the row, not yet committed.
	revoke, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer revoke.Rollback(ctx)
	if _, err := revoke.Exec(ctx, `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_id = 'app_a' AND app_user_id = 'u1'`); err != nil {
		t.Fatal(err)
	}
	// The replay, with a different cap so that it would write.
	replay := approval
	replay.MonthlyCap = wattfare.USD(6)
	done := make(chan error, 1)
	go func() {
		_, err := store.Approve(ctx, replay, time.Now())
		done <- err
	}()
	// Wait until the approval is blocked behind the revoke's row lock.
	for blocked := false; !blocked; {
		select {
		case err := <-done:
			t.Fatalf("the approval finished while the revoke held the row: %v", err)
		default:
		}
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
	}
	if err := revoke.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; wattfare.ErrorCode(err) != wattfare.ECONFLICT {
		t.Errorf("the replayed approval: %v, want %s", err, wattfare.ECONFLICT)
	}
	var status string
	var cap int64
	pool.QueryRow(ctx, `SELECT status, monthly_cap FROM connections WHERE app_id = 'app_a' AND app_user_id = 'u1'`).Scan(&status, &cap)
	if status != "revoked" || cap != int64(wattfare.USD(5)) {
		t.Errorf("connection %s with cap %s, want revoked at $5", status, wattfare.Money(cap))
	}
}
