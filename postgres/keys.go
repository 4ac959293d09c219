package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// MaxKeyOverlap bounds how long a rolled key keeps working.
const MaxKeyOverlap = wattfare.MaxKeyOverlap

// MaxKeysPerApp bounds the live (unrevoked) keys of an app per mode.
const MaxKeysPerApp = 20

// Keys creates, rolls and revokes apps' secret keys. Only the SHA-256 of a
// secret and its Ed25519 public key are stored; the secret is returned once.
// Every method takes the owner's id and answers NOT_FOUND for another
// owner's app or key.
type Keys struct {
	DB *pgxpool.Pool
	// LeaseWait bounds how long Revoke waits for data-plane leases.
	LeaseWait time.Duration
	// Events writes key.revoked webhook events.
	Events Outbox
}

var _ wattfare.KeyService = (*Keys)(nil)

func keyFrom(r sqlc.ApiKey) wattfare.APIKey {
	k := wattfare.APIKey{
		ID: r.ID, AppID: r.AppID, Mode: wattfare.Mode(r.Mode), PublicKey: r.PublicKey, Hint: r.Hint,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, Version: r.Version,
	}
	copy(k.SecretSHA256[:], r.SecretSha256)
	return k
}

func errNoKey() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such key") }

// Create makes a new secret key for ownerID's app in mode and returns it
// with its secret.
func (s *Keys) Create(ctx context.Context, ownerID, appID string, mode wattfare.Mode) (wattfare.APIKey, string, error) {
	if !mode.Valid() {
		return wattfare.APIKey{}, "", wattfare.InvalidField("mode", "unknown mode")
	}
	var k wattfare.APIKey
	var secret string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := lockOwnedApp(ctx, tx, ownerID, appID); err != nil {
			return err
		}
		var err error
		k, secret, err = insertKey(ctx, tx, appID, mode)
		if err != nil {
			return err
		}
		return audit(ctx, tx, ownerID, "key.create", "api_key", k.ID, map[string]any{"app_id": appID, "mode": mode})
	})
	return k, secret, err
}

func lockOwnedApp(ctx context.Context, tx pgx.Tx, ownerID, appID string) error {
	if _, err := queries.LockOwnedApp(ctx, tx, sqlc.LockOwnedAppParams{AppID: appID, OwnerID: ownerID}); err != nil {
		return fmt.Errorf("lock app: %w", interpretError(err, errNoApp()))
	}
	return nil
}

func insertKey(ctx context.Context, tx pgx.Tx, appID string, mode wattfare.Mode) (wattfare.APIKey, string, error) {
	live, err := queries.CountActiveKeys(ctx, tx, sqlc.CountActiveKeysParams{AppID: appID, Mode: string(mode)})
	if err != nil {
		return wattfare.APIKey{}, "", fmt.Errorf("count keys: %w", interpretError(err))
	}
	if live >= MaxKeysPerApp {
		return wattfare.APIKey{}, "", wattfare.Errorf(wattfare.ECONFLICT, "an app has at most %d active keys per mode; revoke one first", MaxKeysPerApp)
	}
	sk := wattfare.NewSecretKey(mode)
	secret := sk.String()
	sum := wattfare.HashSecretKey(secret)
	row, err := queries.InsertKey(ctx, tx, sqlc.InsertKeyParams{
		ID: sk.ID.String(), AppID: appID, Mode: string(mode), SecretSha256: sum[:], PublicKey: sk.PublicKey(), Hint: secret[len(secret)-4:],
	})
	if err != nil {
		return wattfare.APIKey{}, "", fmt.Errorf("insert key: %w", interpretError(err))
	}
	return keyFrom(row), secret, nil
}

// Roll creates a replacement for a key in the same app and mode; the old key
// keeps working for overlap (0 to MaxKeyOverlap), then stops.
func (s *Keys) Roll(ctx context.Context, ownerID, keyID string, overlap time.Duration) (wattfare.APIKey, string, error) {
	if overlap < 0 || overlap > MaxKeyOverlap {
		return wattfare.APIKey{}, "", wattfare.InvalidField("overlapSeconds", "must be between 0 and %d", int(MaxKeyOverlap.Seconds()))
	}
	var k wattfare.APIKey
	var secret string
	var old wattfare.APIKey
	var leases []string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		row, err := queries.OwnedKeyForUpdate(ctx, tx, sqlc.OwnedKeyForUpdateParams{KeyID: keyID, OwnerID: ownerID})
		if err != nil {
			return fmt.Errorf("lock key: %w", interpretError(err, errNoKey()))
		}
		old = keyFrom(row)
		if !old.UsableAt(time.Now()) {
			return wattfare.Errorf(wattfare.ECONFLICT, "this key is revoked or expired; create a new key instead")
		}
		if err := queries.ShortenKeyWindow(ctx, tx, sqlc.ShortenKeyWindowParams{KeyID: keyID, OverlapSeconds: int64(overlap / time.Second)}); err != nil {
			return fmt.Errorf("expire old key: %w", interpretError(err))
		}
		k, secret, err = insertKey(ctx, tx, old.AppID, old.Mode)
		if err != nil {
			return err
		}
		if overlap == 0 {
			if leases, err = openLeases(ctx, tx, LeaseScope{AppID: old.AppID, Mode: old.Mode}); err != nil {
				return err
			}
		}
		return audit(ctx, tx, ownerID, "key.roll", "api_key", keyID,
			map[string]any{"app_id": old.AppID, "mode": old.Mode, "new_key_id": k.ID, "overlap_seconds": int64(overlap.Seconds())})
	})
	if err != nil {
		return wattfare.APIKey{}, "", err
	}
	// With no overlap the old key stopped at once: like a revoke, wait for
	// the data plane.
	return k, secret, awaitLeases(ctx, s.DB, s.LeaseWait, leases)
}

// Revoke stops a key at once. It returns once no data-plane process admits
// requests in the key's app and mode on a lease taken before the revoke.
func (s *Keys) Revoke(ctx context.Context, ownerID, keyID string) (wattfare.APIKey, error) {
	var k wattfare.APIKey
	var leases []string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		row, err := queries.RevokeOwnedKey(ctx, tx, sqlc.RevokeOwnedKeyParams{KeyID: keyID, OwnerID: ownerID})
		if err != nil {
			return fmt.Errorf("revoke key: %w", interpretError(err, errNoKey()))
		}
		k = keyFrom(row)
		if leases, err = openLeases(ctx, tx, LeaseScope{AppID: k.AppID, Mode: k.Mode}); err != nil {
			return err
		}
		if err := s.Events.keyRevoked(ctx, tx, k); err != nil {
			return err
		}
		return audit(ctx, tx, ownerID, "key.revoke", "api_key", keyID, map[string]any{"app_id": k.AppID, "mode": k.Mode})
	})
	if err != nil {
		return wattfare.APIKey{}, err
	}
	return k, awaitLeases(ctx, s.DB, s.LeaseWait, leases)
}

// ListForApp returns an app's keys (mode "" for both), newest first. The
// caller has authorized the app.
func (s *Keys) ListForApp(ctx context.Context, appID string, mode wattfare.Mode) ([]wattfare.APIKey, error) {
	rows, err := queries.KeysForApp(ctx, s.DB, sqlc.KeysForAppParams{AppID: appID, Mode: string(mode)})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", interpretError(err))
	}
	keys := make([]wattfare.APIKey, len(rows))
	for i, r := range rows {
		keys[i] = keyFrom(r)
	}
	return keys, nil
}

// ForApps returns the keys of each of appIDs (both modes), newest first, in
// the order of appIDs. Dataloaders call it; the caller has authorized the
// apps.
func (s *Keys) ForApps(ctx context.Context, appIDs []string) ([][]wattfare.APIKey, error) {
	rows, err := queries.KeysForApps(ctx, s.DB, appIDs)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", interpretError(err))
	}
	byApp := make(map[string][]wattfare.APIKey, len(appIDs))
	for _, r := range rows {
		byApp[r.AppID] = append(byApp[r.AppID], keyFrom(r))
	}
	out := make([][]wattfare.APIKey, len(appIDs))
	for i, id := range appIDs {
		out[i] = byApp[id]
	}
	return out, nil
}

// BySecret returns the key whose secret is secret, if it is still active.
// The demo seed uses it to reuse the keys it printed last time.
func (s *Keys) BySecret(ctx context.Context, secret string) (wattfare.APIKey, error) {
	if _, err := wattfare.ParseSecretKey(secret); err != nil {
		return wattfare.APIKey{}, err
	}
	sum := wattfare.HashSecretKey(secret)
	row, err := queries.KeyBySecretHash(ctx, s.DB, sum[:])
	if err != nil {
		return wattfare.APIKey{}, fmt.Errorf("key by secret: %w", interpretError(err, errNoKey()))
	}
	return keyFrom(row), nil
}
