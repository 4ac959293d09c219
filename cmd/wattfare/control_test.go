package main

import (
	"context"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

func TestSeedDemoIsIdempotent(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	seed := func(prev *devInfo) *devInfo {
		t.Helper()
		env := &devEnv{Pool: pool, ControlAddr: "127.0.0.1:8080", DataAddr: "127.0.0.1:8787", DemoAddr: "127.0.0.1:3000",
			Info: &devInfo{ControlURL: "http://127.0.0.1:8080", DataURL: "http://127.0.0.1:8787"}}
		if err := seedDemo(ctx, pool, env, prev); err != nil {
			t.Fatalf("seed: %v", err)
		}
		return env.Info
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	check := func(t *testing.T, info *devInfo) {
		t.Helper()
		for q, want := range map[string]int{
			`SELECT count(*) FROM accounts`: 3,
			`SELECT count(*) FROM accounts WHERE email = 'admin@wattfare.dev' AND is_admin`:                           1,
			`SELECT count(*) FROM apps WHERE name = 'Acme Chat' AND allowed_origins = ARRAY['http://127.0.0.1:3000']`: 1,
			`SELECT count(*) FROM apps`: 1,
			`SELECT count(*) FROM connections WHERE app_user_id = 'demo_user' AND mode = 'test' AND monthly_cap = 10000000000`: 1,
			`SELECT count(*) FROM connections`: 1,
			`SELECT count(*) FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE a.email = 'user@wattfare.dev' AND w.credits = 20000000000`: 2,
			`SELECT count(*) FROM wallet_ledger WHERE description = 'welcome credit (demo)' AND mode = 'live'`:                                      1,
		} {
			if got := count(q); got != want {
				t.Errorf("%s = %d, want %d", q, got, want)
			}
		}
		sk, err := wattfare.ParseSecretKey(info.App.SecretKey)
		if err != nil || sk.Mode != wattfare.ModeTest {
			t.Fatalf("test secret %q: %v", info.App.SecretKey, err)
		}
		pk, err := wattfare.ParsePublishableKey(info.App.PublishableKey)
		if err != nil || pk.App.String() != info.App.ID || pk.Mode != wattfare.ModeTest {
			t.Fatalf("publishable key %q: %v", info.App.PublishableKey, err)
		}
		if lk, err := wattfare.ParseSecretKey(info.LiveApp.SecretKey); err != nil || lk.Mode != wattfare.ModeLive {
			t.Fatalf("live secret %q: %v", info.LiveApp.SecretKey, err)
		}
		sum := wattfare.HashSecretKey(info.App.SecretKey)
		if count(`SELECT count(*) FROM api_keys WHERE secret_sha256 = $1 AND revoked_at IS NULL AND app_id = $2`, sum[:], info.App.ID) != 1 {
			t.Fatal("dev.json's test key is not a live key of the app")
		}
		if info.ConnectedUserID != "demo_user" || info.User.Email != "user@wattfare.dev" || info.Developer == nil || info.Admin == nil {
			t.Fatalf("info = %+v", info)
		}
	}

	first := seed(nil)
	t.Run("OK", func(t *testing.T) { check(t, first) })

	second := seed(first)
	t.Run("OKAgainReusesKeys", func(t *testing.T) {
		check(t, second)
		if second.App.SecretKey != first.App.SecretKey || second.LiveApp.SecretKey != first.LiveApp.SecretKey {
			t.Fatal("a second run with dev.json made new keys")
		}
		if n := count(`SELECT count(*) FROM api_keys`); n != 2 {
			t.Fatalf("api keys = %d, want 2", n)
		}
	})

	pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE mode = 'test'`)
	third := seed(second)
	t.Run("OKRevokedKeyReplaced", func(t *testing.T) {
		check(t, third)
		if third.App.SecretKey == second.App.SecretKey || third.LiveApp.SecretKey != second.LiveApp.SecretKey {
			t.Fatal("a revoked test key was reused, or a good live key replaced")
		}
	})

	fourth := seed(nil)
	t.Run("OKWithoutDevJSON", func(t *testing.T) { check(t, fourth) })

	t.Run("OKManyRunsWithoutDevJSON", func(t *testing.T) {
		// Each run without dev.json makes keys; past the per-app limit the
		// oldest is retired instead of `wattfare dev` refusing to start.
		var last *devInfo
		for range postgres.MaxKeysPerApp + 2 {
			last = seed(nil)
		}
		check(t, last)
		if n := count(`SELECT count(*) FROM api_keys WHERE mode = 'test' AND revoked_at IS NULL`); n > postgres.MaxKeysPerApp {
			t.Fatalf("%d active test keys", n)
		}
	})
}

func TestDefaultLeaseWaitOutlastsLeaseTTL(t *testing.T) {
	t.Parallel()
	for ttl, want := range map[string]string{"": "15s", "10s": "15s", "30s": "35s", "garbage": "15s"} {
		t.Run("TTL"+ttl, func(t *testing.T) {
			if got := leaseWaitFor(ttl); got != want {
				t.Fatalf("defaultLeaseWait with WATTFARE_LEASE_TTL=%q = %s, want %s", ttl, got, want)
			}
		})
	}
}
