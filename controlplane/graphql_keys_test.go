package controlplane_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// TestRolledKeyOverlap: after rollKey, the old secret still authenticates
// (as the data plane reads it from the catalog, and as a lease grant checks
// it) until its expiresAt, and not after; the new one does from the start.
// A revoked key, or one rolled with no overlap, stops at once.
func TestRolledKeyOverlap(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "ro")
	catalog := postgres.NewCatalog(h.pool)

	// verifies answers as the data plane does: the key by its secret's hash,
	// not revoked, not past expires_at; and a lease grant on it succeeds.
	verifies := func(t *testing.T, secret string) bool {
		t.Helper()
		k, err := catalog.KeyBySecretHash(t.Context(), sha256.Sum256([]byte(secret)))
		if err != nil {
			t.Fatalf("catalog: %v", err)
		}
		now := time.Now()
		cached := k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
		var reason string
		lease := "lease_" + k.ID + now.Format("150405.000000000")
		if err := h.pool.QueryRow(t.Context(), `SELECT o_reason FROM wattfare_lease_grant($1, $2, $3, 'proc-t', $4, 1000, 1, 1, 1000)`,
			lease, f.connID, k.ID, wattfare.PeriodStart(now)).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		// Give it back, as the data plane would: a later revoke need not wait for it.
		h.exec(`SELECT wattfare_lease_release(ARRAY[$1], false)`, lease)
		if cached != (reason == "") {
			t.Fatalf("catalog says active=%v, lease grant says %q", cached, reason)
		}
		if reason != "" && reason != wattfare.EInvalidAPIKey {
			t.Fatalf("lease grant refused with %q", reason)
		}
		return cached
	}
	roll := func(keyID string, overlap int) (string, string) {
		var out struct {
			RollKey struct {
				Secret string
				Key    struct{ ID string }
			}
		}
		f.dev.mustDo(`mutation($id: ID!, $s: Int!) { rollKey(keyId: $id, overlapSeconds: $s) { secret key { id } } }`,
			map[string]any{"id": keyID, "s": overlap}, &out)
		return out.RollKey.Key.ID, out.RollKey.Secret
	}

	oldKey, oldSecret := f.dev.createKey(f.appID, "TEST")
	t.Run("OverlapThenExpiry", func(t *testing.T) {
		newID, newSecret := roll(oldKey.ID, 3600)
		if !verifies(t, oldSecret) || !verifies(t, newSecret) {
			t.Fatal("during the overlap both keys must verify")
		}
		// The overlap runs out (moved, not waited for).
		h.exec(`UPDATE api_keys SET expires_at = now() - interval '1 millisecond' WHERE id = $1`, oldKey.ID)
		if verifies(t, oldSecret) {
			t.Fatal("the rolled key verifies after its expiresAt")
		}
		if !verifies(t, newSecret) {
			t.Fatal("the new key stopped with the old one")
		}
		var keys struct {
			App struct {
				Keys []struct {
					ID     string
					Active bool
				}
			}
		}
		f.dev.mustDo(`query($id: ID!) { app(id: $id) { keys(mode: TEST) { id active } } }`, idVar(f.appID), &keys)
		for _, k := range keys.App.Keys {
			if k.ID == oldKey.ID && k.Active || k.ID == newID && !k.Active {
				t.Fatalf("keys = %+v", keys.App.Keys)
			}
		}
		f.dev.wantCode("CONFLICT", "", `mutation($id: ID!) { rollKey(keyId: $id) { secret } }`, idVar(oldKey.ID))
	})
	t.Run("NoOverlapStopsAtOnce", func(t *testing.T) {
		k, secret := f.dev.createKey(f.appID, "TEST")
		_, next := roll(k.ID, 0)
		if verifies(t, secret) {
			t.Fatal("a key rolled with no overlap still verifies")
		}
		if !verifies(t, next) {
			t.Fatal("the replacement does not verify")
		}
	})
	t.Run("RollingAgainOnlyShortens", func(t *testing.T) {
		k, secret := f.dev.createKey(f.appID, "TEST")
		roll(k.ID, 60)
		roll(k.ID, 7*24*3600) // a second roll cannot lengthen the window
		if n := h.count(`SELECT count(*) FROM api_keys WHERE id = $1 AND expires_at <= now() + interval '61 seconds'`, k.ID); n != 1 {
			t.Fatal("rolling again lengthened the overlap")
		}
		if !verifies(t, secret) {
			t.Fatal("the key stopped before its window")
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		k, secret := f.dev.createKey(f.appID, "TEST")
		f.dev.mustDo(`mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar(k.ID), nil)
		if verifies(t, secret) {
			t.Fatal("a revoked key verifies")
		}
	})
}
