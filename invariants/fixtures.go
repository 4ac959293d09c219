package invariants

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// Fixture is a funded payer made directly in the tables: an account with a
// test wallet, an app with a secret key, and a connection of one app user.
type Fixture struct {
	AccountID    string
	AppID        string
	KeyID        string
	SecretKey    string
	ConnectionID string
	AppUserID    string
	Mode         wattfare.Mode
	Cap          wattfare.Money
}

// NewFixture creates a fixture with the given monthly cap and wallet credits.
func NewFixture(ctx context.Context, db *pgxpool.Pool, capAmount, credits wattfare.Money) (Fixture, error) {
	f := Fixture{AccountID: wattfare.NewID("acct_"), Mode: wattfare.ModeTest, Cap: capAmount}
	f.AppID = wattfare.NewAppID().String()
	sk := wattfare.NewSecretKey(wattfare.ModeTest)
	f.SecretKey = sk.String()
	f.KeyID = sk.ID.String()
	f.ConnectionID = wattfare.NewID("conn_")
	f.AppUserID = "user_" + wattfare.NewID("")[:8]
	hash := wattfare.HashSecretKey(f.SecretKey)
	tx, err := db.Begin(ctx)
	if err != nil {
		return f, err
	}
	defer tx.Rollback(ctx)
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, 'x')`, []any{f.AccountID, f.AccountID + "@example.com"}},
		{`INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'test', $2)`, []any{f.AccountID, int64(credits)}},
		{`INSERT INTO apps (id, owner_id, name) VALUES ($1, $2, 'Fixture App')`, []any{f.AppID, f.AccountID}},
		{`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'test', $3, $4, 'fixt')`,
			[]any{f.KeyID, f.AppID, hash[:], []byte(sk.PublicKey())}},
		{`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'test', $3, $4, $5)`,
			[]any{f.ConnectionID, f.AppID, f.AppUserID, f.AccountID, int64(capAmount)}},
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return f, fmt.Errorf("fixture: %w", err)
		}
	}
	return f, tx.Commit(ctx)
}

// AddKey creates another secret key for the fixture's app and returns its
// id and secret.
func (f Fixture) AddKey(ctx context.Context, db *pgxpool.Pool) (id, secret string, err error) {
	sk := wattfare.NewSecretKey(f.Mode)
	hash := wattfare.HashSecretKey(sk.String())
	_, err = db.Exec(ctx, `INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, $3, $4, $5, 'fixt')`,
		sk.ID.String(), f.AppID, string(f.Mode), hash[:], []byte(sk.PublicKey()))
	return sk.ID.String(), sk.String(), err
}

// NewUser connects another app user of the fixture's app, paid by a new
// funded account.
func (f Fixture) NewUser(ctx context.Context, db *pgxpool.Pool, capAmount, credits wattfare.Money) (Fixture, error) {
	u := f
	u.AccountID = wattfare.NewID("acct_")
	u.ConnectionID = wattfare.NewID("conn_")
	var b [4]byte
	rand.Read(b[:])
	u.AppUserID = fmt.Sprintf("user_%x", b)
	u.Cap = capAmount
	tx, err := db.Begin(ctx)
	if err != nil {
		return u, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, 'x')`, u.AccountID, u.AccountID+"@example.com"); err != nil {
		return u, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO wallets (account_id, mode, credits) VALUES ($1, $2, $3)`, u.AccountID, string(u.Mode), int64(credits)); err != nil {
		return u, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ConnectionID, u.AppID, string(u.Mode), u.AppUserID, u.AccountID, int64(capAmount)); err != nil {
		return u, err
	}
	return u, tx.Commit(ctx)
}
