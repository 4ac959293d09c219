package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// MaxKeyOverlap bounds how long a rolled key keeps working.
const MaxKeyOverlap = 7 * 24 * time.Hour

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
}

const keyColumns = `id, app_id, mode, secret_sha256, public_key, hint, created_at, expires_at, revoked_at, version`

func scanKey(row pgx.Row) (wattfare.APIKey, error) {
	var k wattfare.APIKey
	var mode string
	var sum []byte
	err := row.Scan(&k.ID, &k.AppID, &mode, &sum, &k.PublicKey, &k.Hint, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.Version)
	k.Mode = wattfare.Mode(mode)
	copy(k.SecretSHA256[:], sum)
	return k, err
}

func errNoKey() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such key") }

// KeyActive reports whether k can still authenticate at now.
func KeyActive(k wattfare.APIKey, now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || k.ExpiresAt.After(now))
}

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
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM apps WHERE id = $1 AND owner_id = $2 FOR UPDATE`, appID, ownerID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoApp()
	}
	if err != nil {
		return fmt.Errorf("lock app: %w", err)
	}
	return nil
}

func insertKey(ctx context.Context, tx pgx.Tx, appID string, mode wattfare.Mode) (wattfare.APIKey, string, error) {
	var live int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE app_id = $1 AND mode = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
		appID, string(mode)).Scan(&live); err != nil {
		return wattfare.APIKey{}, "", fmt.Errorf("count keys: %w", err)
	}
	if live >= MaxKeysPerApp {
		return wattfare.APIKey{}, "", wattfare.Errorf(wattfare.ECONFLICT, "an app has at most %d active keys per mode; revoke one first", MaxKeysPerApp)
	}
	sk := wattfare.NewSecretKey(mode)
	secret := sk.String()
	sum := sha256.Sum256([]byte(secret))
	k, err := scanKey(tx.QueryRow(ctx, `
INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, $3, $4, $5, $6)
RETURNING `+keyColumns, sk.ID.String(), appID, string(mode), sum[:], []byte(sk.PublicKey()), secret[len(secret)-4:]))
	if err != nil {
		return wattfare.APIKey{}, "", fmt.Errorf("insert key: %w", err)
	}
	return k, secret, nil
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
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		old, err = scanKey(tx.QueryRow(ctx, `
SELECT k.id, k.app_id, k.mode, k.secret_sha256, k.public_key, k.hint, k.created_at, k.expires_at, k.revoked_at, k.version
FROM api_keys k JOIN apps a ON a.id = k.app_id
WHERE k.id = $1 AND a.owner_id = $2 FOR UPDATE OF k`, keyID, ownerID))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoKey()
		}
		if err != nil {
			return fmt.Errorf("lock key: %w", err)
		}
		if !KeyActive(old, time.Now()) {
			return wattfare.Errorf(wattfare.ECONFLICT, "this key is revoked or expired; create a new key instead")
		}
		// The old key's window can only shrink, never grow.
		if _, err := tx.Exec(ctx, `
UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + $2::interval) WHERE id = $1`,
			keyID, overlap.String()); err != nil {
			return fmt.Errorf("expire old key: %w", err)
		}
		k, secret, err = insertKey(ctx, tx, old.AppID, old.Mode)
		if err != nil {
			return err
		}
		return audit(ctx, tx, ownerID, "key.roll", "api_key", keyID,
			map[string]any{"app_id": old.AppID, "mode": old.Mode, "new_key_id": k.ID, "overlap_seconds": int64(overlap.Seconds())})
	})
	if err != nil {
		return wattfare.APIKey{}, "", err
	}
	if overlap == 0 {
		// The old key stopped at once: like a revoke, wait for the data plane.
		if err := awaitLeases(ctx, s.DB, s.LeaseWait, LeaseScope{AppID: old.AppID, Mode: old.Mode}); err != nil {
			return k, secret, err
		}
	}
	return k, secret, nil
}

// Revoke stops a key at once. It returns once no data-plane process admits
// requests in the key's app and mode on a lease taken before the revoke.
func (s *Keys) Revoke(ctx context.Context, ownerID, keyID string) (wattfare.APIKey, error) {
	var k wattfare.APIKey
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		k, err = scanKey(tx.QueryRow(ctx, `
UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
FROM apps a WHERE a.id = k.app_id AND k.id = $1 AND a.owner_id = $2
RETURNING k.id, k.app_id, k.mode, k.secret_sha256, k.public_key, k.hint, k.created_at, k.expires_at, k.revoked_at, k.version`, keyID, ownerID))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoKey()
		}
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		return audit(ctx, tx, ownerID, "key.revoke", "api_key", keyID, map[string]any{"app_id": k.AppID, "mode": k.Mode})
	})
	if err != nil {
		return wattfare.APIKey{}, err
	}
	return k, awaitLeases(ctx, s.DB, s.LeaseWait, LeaseScope{AppID: k.AppID, Mode: k.Mode})
}

// ListForApp returns an app's keys (mode "" for both), newest first. The
// caller has authorized the app.
func (s *Keys) ListForApp(ctx context.Context, appID string, mode wattfare.Mode) ([]wattfare.APIKey, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE app_id = $1 AND ($2 = '' OR mode = $2) ORDER BY created_at DESC, id DESC`,
		appID, string(mode))
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.APIKey, error) { return scanKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// BySecret returns the key whose secret is secret, if it is still active.
// The demo seed uses it to reuse the keys it printed last time.
func (s *Keys) BySecret(ctx context.Context, secret string) (wattfare.APIKey, error) {
	if _, err := wattfare.ParseSecretKey(secret); err != nil {
		return wattfare.APIKey{}, err
	}
	sum := sha256.Sum256([]byte(secret))
	k, err := scanKey(s.DB.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE secret_sha256 = $1`, sum[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return wattfare.APIKey{}, errNoKey()
	}
	return k, err
}
