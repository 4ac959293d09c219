package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// Account is a Wattfare login. One account can own apps (a developer), fund
// connections (a budget owner), or both; IsAdmin makes it a platform admin.
type Account struct {
	ID          string
	Email       string
	DisplayName string
	IsAdmin     bool
	CreatedAt   time.Time
}

// SignUpCredit is what a new account's test wallet starts with.
const SignUpCredit = 20 * wattfare.Dollar

// SessionTTL is how long a dashboard session lasts.
const SessionTTL = 30 * 24 * time.Hour

// Accounts signs people up and in and keeps their dashboard sessions.
type Accounts struct {
	DB *pgxpool.Pool
}

const accountColumns = `id, email, display_name, is_admin, created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Email, &a.DisplayName, &a.IsAdmin, &a.CreatedAt)
	return a, err
}

// SignUp creates an account with its two wallets: the test wallet funded
// with SignUpCredit of test credit, the live wallet empty. A malformed email
// or a weak password is EINVALID naming the field; a taken email is ECONFLICT.
func (s *Accounts) SignUp(ctx context.Context, email, password, displayName string) (Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Account{}, err
	}
	if err := CheckPassword(password); err != nil {
		return Account{}, err
	}
	displayName = strings.TrimSpace(displayName)
	if len([]rune(displayName)) > 100 {
		return Account{}, wattfare.InvalidField("displayName", "use at most 100 characters")
	}
	hash := hashPassword(password)
	var a Account
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		a, err = scanAccount(tx.QueryRow(ctx, `
INSERT INTO accounts (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING
RETURNING `+accountColumns, wattfare.NewID("acct_"), email, hash, displayName))
		if errors.Is(err, pgx.ErrNoRows) {
			return &wattfare.Error{Code: wattfare.ECONFLICT, Field: "email", Message: "an account with this email already exists"}
		}
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wallets (account_id, mode) VALUES ($1, 'test'), ($1, 'live')`, a.ID); err != nil {
			return fmt.Errorf("create wallets: %w", err)
		}
		return creditWallet(ctx, tx, a.ID, a.ID, wattfare.ModeTest, SignUpCredit, "welcome test credit")
	})
	return a, err
}

// Authenticate checks an email and password. Every failure is the same
// EUNAUTHENTICATED error, and costs the same time, whether or not the
// account exists.
func (s *Accounts) Authenticate(ctx context.Context, email, password string) (Account, error) {
	fail := wattfare.Errorf(wattfare.EUNAUTHENTICATED, "wrong email or password")
	email = strings.ToLower(strings.TrimSpace(email))
	if len(password) > MaxPasswordLen || len(email) > 254 {
		return Account{}, fail
	}
	var a Account
	var hash string
	err := s.DB.QueryRow(ctx, `SELECT `+accountColumns+`, password_hash FROM accounts WHERE email = $1`, email).
		Scan(&a.ID, &a.Email, &a.DisplayName, &a.IsAdmin, &a.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		verifyPassword(dummyHash, password)
		return Account{}, fail
	}
	if err != nil {
		return Account{}, fmt.Errorf("look up account: %w", err)
	}
	if !verifyPassword(hash, password) {
		return Account{}, fail
	}
	return a, nil
}

// EnsureAccount returns the account with email, creating it (as SignUp does)
// when it does not exist. The demo seed uses it; it never changes the
// password of an existing account.
func (s *Accounts) EnsureAccount(ctx context.Context, email, password, displayName string) (Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Account{}, err
	}
	a, err := scanAccount(s.DB.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE email = $1`, email))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("look up account: %w", err)
	}
	a, err = s.SignUp(ctx, email, password, displayName)
	if wattfare.ErrorCode(err) == wattfare.ECONFLICT { // created meanwhile
		return scanAccount(s.DB.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE email = $1`, email))
	}
	return a, err
}

// SetAdmin grants or removes the admin role.
func (s *Accounts) SetAdmin(ctx context.Context, accountID string, admin bool) error {
	tag, err := s.DB.Exec(ctx, `UPDATE accounts SET is_admin = $2 WHERE id = $1`, accountID, admin)
	if err != nil {
		return fmt.Errorf("set admin: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return wattfare.Errorf(wattfare.ENOTFOUND, "no such account")
	}
	return nil
}

// Get returns one account.
func (s *Accounts) Get(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.DB.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, wattfare.Errorf(wattfare.ENOTFOUND, "no such account")
	}
	return a, err
}

// ByIDs returns the accounts with the given ids, in that order; a missing
// one is a nil entry. Dataloaders call it.
func (s *Accounts) ByIDs(ctx context.Context, ids []string) ([]*Account, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	byID := make(map[string]*Account, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	out := make([]*Account, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// List returns every account, newest first, for admins.
func (s *Accounts) List(ctx context.Context, p Page) (Paged[Account], error) {
	return listPage(ctx, s.DB, p, `SELECT `+accountColumns+` FROM accounts WHERE true`, "created_at", "id", nil, scanAccount,
		func(a Account) cursorKey { return cursorKey{a.CreatedAt, a.ID} })
}

// Sessions.

func sessionHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateSession starts a dashboard session and returns its token, which
// only the cookie holds; the table stores its SHA-256.
func (s *Accounts) CreateSession(ctx context.Context, accountID string) (token string, expires time.Time, err error) {
	var raw [32]byte
	rand.Read(raw[:])
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	err = s.DB.QueryRow(ctx, `
INSERT INTO dashboard_sessions (token_sha256, account_id, expires_at) VALUES ($1, $2, now() + $3::interval)
RETURNING expires_at`, sessionHash(token), accountID, SessionTTL.String()).Scan(&expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	return token, expires, nil
}

// SessionAccount returns the account of an unexpired session token.
func (s *Accounts) SessionAccount(ctx context.Context, token string) (Account, error) {
	if token == "" || len(token) > 128 {
		return Account{}, wattfare.Errorf(wattfare.EUNAUTHENTICATED, "not signed in")
	}
	a, err := scanAccount(s.DB.QueryRow(ctx, `
SELECT a.id, a.email, a.display_name, a.is_admin, a.created_at
FROM dashboard_sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_sha256 = $1 AND s.expires_at > now()`, sessionHash(token)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, wattfare.Errorf(wattfare.EUNAUTHENTICATED, "not signed in")
	}
	if err != nil {
		return Account{}, fmt.Errorf("look up session: %w", err)
	}
	return a, nil
}

// DeleteSession ends a session. It reports whether there was one.
func (s *Accounts) DeleteSession(ctx context.Context, token string) (bool, error) {
	tag, err := s.DB.Exec(ctx, `DELETE FROM dashboard_sessions WHERE token_sha256 = $1`, sessionHash(token))
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
