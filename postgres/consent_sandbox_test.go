package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestSandboxTopUpIsACredit: the sandbox account's automatic top-up is a
// credit like any other. It tells the data plane (a wallet change event, on
// commit), and approvals that find the wallet low together fund it once.
func TestSandboxTopUpIsACredit(t *testing.T) {
	t.Parallel()
	u := pgtest.NewURL(t)
	pool, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_dev', 'dev@example.com', 'x')`)
	exec(`INSERT INTO apps (id, owner_id, name) VALUES ('app_sbx', 'acct_dev', 'Sandboxed')`)
	store := &postgres.Consent{DB: pool}
	sandbox, err := store.SandboxAccount(ctx, "app_sbx")
	if err != nil {
		t.Fatal(err)
	}
	available := func() wattfare.Money {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, `SELECT credits - captured - held FROM wallets WHERE account_id = $1 AND mode = 'test'`, sandbox).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return wattfare.Money(n)
	}
	spendDownTo := func(left wattfare.Money) {
		t.Helper()
		exec(`UPDATE wallets SET captured = credits - held - $2 WHERE account_id = $1 AND mode = 'test'`, sandbox, int64(left))
	}
	if got := available(); got != 100*wattfare.Dollar {
		t.Fatalf("new sandbox wallet has %s, want $100.00", got)
	}

	t.Run("OKNotifiesTheDataPlane", func(t *testing.T) {
		listener, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer listener.Close(ctx)
		if _, err := listener.Exec(ctx, `LISTEN wattfare_changes`); err != nil {
			t.Fatal(err)
		}
		spendDownTo(wattfare.USD(10))
		if _, err := store.SandboxAccount(ctx, "app_sbx"); err != nil {
			t.Fatal(err)
		}
		if got := available(); got != 100*wattfare.Dollar {
			t.Fatalf("topped-up sandbox wallet has %s, want $100.00", got)
		}
		// Committed after the top-up, so delivered after anything it sent.
		exec(`SELECT pg_notify('wattfare_changes', '{"entity":"marker"}')`)
		for {
			n, err := listener.WaitForNotification(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ev struct{ Entity, ID, Mode string }
			json.Unmarshal([]byte(n.Payload), &ev)
			if ev.Entity == "marker" {
				t.Fatal("the top-up sent no wallet change event: the data plane keeps refusing the sandbox's connections as out of budget")
			}
			if ev.Entity == "wallet" && ev.ID == sandbox && ev.Mode == "test" {
				break
			}
		}
	})

	t.Run("OKConcurrentTopUpFundsOnce", func(t *testing.T) {
		spendDownTo(wattfare.USD(40))
		// Another top-up of the wallet is in flight: it has read the wallet
		// ($40) and holds the row.
		other, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback(ctx)
		if _, err := other.Exec(ctx, `SELECT 1 FROM wallets WHERE account_id = $1 AND mode = 'test' FOR UPDATE`, sandbox); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := store.SandboxAccount(ctx, "app_sbx")
			done <- err
		}()
		// Wait until this top-up waits for the other one's row lock.
		for blocked := false; !blocked; {
			select {
			case err := <-done:
				t.Fatalf("the top-up finished while another held the wallet: %v", err)
			default:
			}
			if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&blocked); err != nil {
				t.Fatal(err)
			}
		}
		// The other top-up brings the wallet back to $100 and commits.
		if _, err := other.Exec(ctx, `UPDATE wallets SET credits = credits + $2 WHERE account_id = $1 AND mode = 'test'`, sandbox, int64(wattfare.USD(60))); err != nil {
			t.Fatal(err)
		}
		if err := other.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := available(); got != 100*wattfare.Dollar {
			t.Errorf("sandbox wallet has %s after two top-ups raced, want $100.00 (funded once)", got)
		}
	})
}
