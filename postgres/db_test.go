package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	u := pgtest.NewURL(t)
	if err := postgres.Migrate(context.Background(), u); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

// TestChangeNotifiedOnCommitOnly checks that a write the data plane must see
// is announced when its transaction commits and never when it rolls back.
func TestChangeNotifiedOnCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := pgtest.NewURL(t)
	pool := pgtest.NewPool(t)
	_ = pool
	listener, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN "+wattfare.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec("INSERT INTO accounts (id, email, password_hash) VALUES ('acct_1', 'a@example.com', 'x')")
	mustExec("INSERT INTO apps (id, owner_id, name) VALUES ('app_1', 'acct_1', 'Acme')")
	drain(t, listener) // the insert's own event

	// Rolled back: nothing.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE apps SET suspended_at = now() WHERE id = 'app_1'"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	if ev, ok := next(listener, 300*time.Millisecond); ok {
		t.Fatalf("rolled-back write notified: %+v", ev)
	}

	// Committed: one event with the bumped version.
	mustExec("UPDATE apps SET suspended_at = now() WHERE id = 'app_1'")
	ev, ok := next(listener, 5*time.Second)
	if !ok {
		t.Fatal("committed write not notified")
	}
	if ev.Entity != wattfare.EntityApp || ev.ID != "app_1" || ev.Version != 2 {
		t.Fatalf("event = %+v, want app app_1 version 2", ev)
	}
}

func next(c *pgx.Conn, d time.Duration) (wattfare.ChangeEvent, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n, err := c.WaitForNotification(ctx)
	if err != nil {
		return wattfare.ChangeEvent{}, false
	}
	var ev wattfare.ChangeEvent
	json.Unmarshal([]byte(n.Payload), &ev)
	return ev, true
}

func drain(t *testing.T, c *pgx.Conn) {
	for {
		if _, ok := next(c, 200*time.Millisecond); !ok {
			return
		}
	}
}
