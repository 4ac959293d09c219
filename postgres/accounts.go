package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// queries are the sqlc-generated plain queries; each runs on a pool or a tx.
var queries = sqlc.New()

// SignUpCredit is what a new account's test wallet starts with.
const SignUpCredit = 20 * wattfare.Dollar

// SessionTTL is how long a dashboard session lasts.
const SessionTTL = 30 * 24 * time.Hour

// Accounts signs people up and in and keeps their dashboard sessions.
type Accounts struct {
	DB *pgxpool.Pool
}

var (
	_ wattfare.AccountService = (*Accounts)(nil)
	_ wattfare.SessionService = (*Accounts)(nil)
)

func accountFrom(a sqlc.Account) wattfare.Account {
	return wattfare.Account{ID: a.ID, Email: a.Email, DisplayName: a.DisplayName, IsAdmin: a.IsAdmin, CreatedAt: a.CreatedAt}
}

// SignUp creates an account with its two wallets: the test wallet funded
// with SignUpCredit of test credit, the live wallet empty. A malformed email,
// an address in SandboxDomain or a weak password is EINVALID naming the
// field; a taken email is ECONFLICT.
func (s *Accounts) SignUp(ctx context.Context, email, password, displayName string) (wattfare.Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return wattfare.Account{}, err
	}
	if ReservedEmail(email) {
		return wattfare.Account{}, wattfare.InvalidField("email", "addresses at %s are reserved for Wattfare's sandbox test accounts; sign up with your own email", SandboxDomain)
	}
	if err := CheckPassword(password); err != nil {
		return wattfare.Account{}, err
	}
	displayName = strings.TrimSpace(displayName)
	if len([]rune(displayName)) > 100 {
		return wattfare.Account{}, wattfare.InvalidField("displayName", "use at most 100 characters")
	}
	hash := hashPassword(password)
	var a wattfare.Account
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		row, err := queries.InsertAccount(ctx, tx, sqlc.InsertAccountParams{
			ID: wattfare.NewID("acct_"), Email: email, PasswordHash: hash, DisplayName: displayName,
		})
		if err != nil {
			// No row: ON CONFLICT (email) DO NOTHING.
			taken := &wattfare.Error{Code: wattfare.ECONFLICT, Field: "email", Message: "an account with this email already exists"}
			return fmt.Errorf("insert account: %w", interpretError(err, taken))
		}
		a = accountFrom(row)
		if err := queries.CreateWallets(ctx, tx, a.ID); err != nil {
			return fmt.Errorf("create wallets: %w", err)
		}
		return creditWallet(ctx, tx, a.ID, a.ID, wattfare.ModeTest, SignUpCredit, "welcome test credit")
	})
	return a, err
}

// Authenticate checks an email and password. Every failure is the same
// EUNAUTHENTICATED error, and costs the same time, whether or not the
// account exists.
func (s *Accounts) Authenticate(ctx context.Context, email, password string) (wattfare.Account, error) {
	fail := wattfare.Errorf(wattfare.EUNAUTHENTICATED, "wrong email or password")
	email = strings.ToLower(strings.TrimSpace(email))
	if len(password) > MaxPasswordLen || len(email) > 254 {
		return wattfare.Account{}, fail
	}
	row, err := queries.AccountByEmail(ctx, s.DB, email)
	if isNotFound(err) {
		verifyPassword(dummyHash(), password)
		return wattfare.Account{}, fail
	}
	if err != nil {
		return wattfare.Account{}, fmt.Errorf("look up account: %w", interpretError(err))
	}
	if !verifyPassword(row.PasswordHash, password) {
		return wattfare.Account{}, fail
	}
	return accountFrom(row), nil
}

// EnsureAccount returns the account with email, creating it (as SignUp does)
// when it does not exist. The demo seed uses it; it never changes the
// password of an existing account.
func (s *Accounts) EnsureAccount(ctx context.Context, email, password, displayName string) (wattfare.Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return wattfare.Account{}, err
	}
	row, err := queries.AccountByEmail(ctx, s.DB, email)
	if err == nil {
		return accountFrom(row), nil
	}
	if !isNotFound(err) {
		return wattfare.Account{}, fmt.Errorf("look up account: %w", interpretError(err))
	}
	a, err := s.SignUp(ctx, email, password, displayName)
	if wattfare.ErrorCode(err) == wattfare.ECONFLICT { // created meanwhile
		row, err := queries.AccountByEmail(ctx, s.DB, email)
		if err != nil {
			return wattfare.Account{}, fmt.Errorf("look up account: %w", interpretError(err))
		}
		return accountFrom(row), nil
	}
	return a, err
}

// SetAdmin grants or removes the admin role.
func (s *Accounts) SetAdmin(ctx context.Context, accountID string, admin bool) error {
	n, err := queries.SetAdmin(ctx, s.DB, sqlc.SetAdminParams{ID: accountID, IsAdmin: admin})
	if err != nil {
		return fmt.Errorf("set admin: %w", err)
	}
	if n == 0 {
		return wattfare.Errorf(wattfare.ENOTFOUND, "no such account")
	}
	return nil
}

// ByIDs returns the accounts with the given ids, in that order; a missing
// one is a nil entry. Dataloaders call it.
func (s *Accounts) ByIDs(ctx context.Context, ids []string) ([]*wattfare.Account, error) {
	found, err := queries.AccountsByIDs(ctx, s.DB, ids)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	return inIDOrder(ids, found, accountFrom, func(a *wattfare.Account) string { return a.ID }), nil
}

// List returns every account, newest first, for admins.
func (s *Accounts) List(ctx context.Context, p wattfare.Page) (wattfare.Paged[wattfare.Account], error) {
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.Account, error) {
		rows, err := queries.AccountsPage(ctx, s.DB, sqlc.AccountsPageParams{AfterAt: after.at(), AfterID: after.id(), Lim: limit})
		out := make([]wattfare.Account, len(rows))
		for i, r := range rows {
			out[i] = accountFrom(r)
		}
		return out, interpretError(err)
	}, func(a wattfare.Account) cursorKey { return cursorKey{a.CreatedAt, a.ID} })
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
	// Signing in is when an account's old sessions are least likely to be
	// wanted: drop the expired ones.
	if err := queries.DeleteExpiredAccountSessions(ctx, s.DB, accountID); err != nil {
		return "", time.Time{}, fmt.Errorf("delete expired sessions: %w", err)
	}
	expires, err = queries.CreateDashboardSession(ctx, s.DB, sqlc.CreateDashboardSessionParams{
		TokenSha256: sessionHash(token), AccountID: accountID, TtlSeconds: int64(SessionTTL / time.Second),
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	return token, expires, nil
}

// SessionAccount returns the account of an unexpired session token.
func (s *Accounts) SessionAccount(ctx context.Context, token string) (wattfare.Account, error) {
	if token == "" || len(token) > 128 {
		return wattfare.Account{}, wattfare.Errorf(wattfare.EUNAUTHENTICATED, "not signed in")
	}
	row, err := queries.DashboardSessionAccount(ctx, s.DB, sessionHash(token))
	if isNotFound(err) {
		// An expired session is deleted the first time it is presented.
		if err := queries.DeleteExpiredSession(ctx, s.DB, sessionHash(token)); err != nil {
			return wattfare.Account{}, fmt.Errorf("delete expired session: %w", err)
		}
		return wattfare.Account{}, wattfare.Errorf(wattfare.EUNAUTHENTICATED, "not signed in")
	}
	if err != nil {
		return wattfare.Account{}, fmt.Errorf("look up session: %w", interpretError(err))
	}
	return accountFrom(row), nil
}

// DeleteExpiredSessions deletes up to limit expired sessions and returns
// how many it deleted. The control plane calls it periodically, for the
// sessions of browsers that never come back.
func (s *Accounts) DeleteExpiredSessions(ctx context.Context, limit int) (int64, error) {
	n, err := queries.DeleteExpiredSessions(ctx, s.DB, int32(limit))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// SweepSessions deletes expired sessions now and then every interval until
// ctx ends, in batches so that no statement holds many locks for long.
func (s *Accounts) SweepSessions(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := s.DeleteExpiredSessions(ctx, 1000)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("sweep dashboard sessions", "err", err)
				}
				break
			}
			if n < 1000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeleteSession ends a session. It reports whether there was one.
func (s *Accounts) DeleteSession(ctx context.Context, token string) (bool, error) {
	n, err := queries.DeleteDashboardSession(ctx, s.DB, sessionHash(token))
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	return n > 0, nil
}

// inIDOrder converts rows and returns one entry per id, in the order of ids,
// nil where no row has that id: the shape dataloaders need from a batch
// query that answers in any order and skips missing ids.
func inIDOrder[R, T any](ids []string, rows []R, from func(R) T, id func(*T) string) []*T {
	byID := make(map[string]*T, len(rows))
	for _, r := range rows {
		v := from(r)
		byID[id(&v)] = &v
	}
	out := make([]*T, len(ids))
	for i, k := range ids {
		out[i] = byID[k]
	}
	return out
}
