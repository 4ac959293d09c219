package postgres_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/migrations"
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

// TestMigrationsRollBackAndReapply runs every migration's down part, back
// to an empty schema, and then every up part again: an operator rolling a
// release back must not be stranded by a down part that fails.
func TestMigrationsRollBackAndReapply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := pgtest.NewURL(t)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A settled event, so that the down parts meet a table with rows and a
	// month partition made on demand.
	if _, err := conn.Exec(ctx, `SELECT wattfare_usage_partition(now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id,
		app_user_id, key_id, model, cost, charged) VALUES ('req_1', now(), 'app_1', 'test', 'conn_1', 'acct_1', 'u', 'key_1', 'm', 5, 5)`); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewMigrator(ctx, conn, "wattfare_schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(fs.FS(migrations.FS)); err != nil {
		t.Fatal(err)
	}
	for v := int32(len(m.Migrations)) - 1; v >= 0; v-- {
		if err := m.MigrateTo(ctx, v); err != nil {
			t.Fatalf("down to %d: %v", v, err)
		}
	}
	// River's tables are river's (versioned apart, MigrateRiver): ours
	// must all be gone.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'wattfare_schema_version'
		AND tablename NOT LIKE 'river\_%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after every down part, %d tables are left (%v)", n, err)
	}
	if err := postgres.MigrateConn(ctx, conn); err != nil {
		t.Fatalf("up again: %v", err)
	}
	// The schema works again: the same request settles once.
	for i, want := range []int64{1, 0} {
		tag, err := conn.Exec(ctx, `INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id,
			app_user_id, key_id, model, cost, charged) VALUES ('req_1', '2026-01-02T03:04:05Z', 'app_1', 'test', 'conn_1', 'acct_1', 'u', 'key_1', 'm', 5, 5)
			ON CONFLICT DO NOTHING`)
		if err != nil || tag.RowsAffected() != want {
			t.Fatalf("insert %d: %d rows (%v), want %d", i, tag.RowsAffected(), err, want)
		}
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
