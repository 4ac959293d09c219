package wattfare

import (
	"context"
	"time"
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

// AccountService signs people up and in and lists accounts.
type AccountService interface {
	// SignUp creates an account with its test wallet funded and its live
	// wallet empty. Anyone may call it, signed in or not.
	//
	// Returns EINVALID naming the field for a malformed email, an address
	// reserved for sandbox accounts, a weak password or a display name over
	// 100 characters, and ECONFLICT (field email) when the email is taken.
	SignUp(ctx context.Context, email, password, displayName string) (Account, error)

	// Authenticate checks an email and password. Anyone may call it.
	//
	// Every failure is the same EUNAUTHENTICATED, whether or not the
	// account exists, and costs the same time.
	Authenticate(ctx context.Context, email, password string) (Account, error)

	// ByIDs returns the accounts with the given ids in that order, nil for
	// a missing one. Dataloaders call it: the caller decides who may see
	// each account (its owner; an app's owner is shown to the app's owner
	// and to admins).
	ByIDs(ctx context.Context, ids []string) ([]*Account, error)

	// List returns a page of every account, newest first. Admins only: the
	// caller checks the role.
	//
	// Returns EINVALID for a page size out of range or a malformed cursor.
	List(ctx context.Context, p Page) (Paged[Account], error)
}

// SessionService keeps dashboard sessions. Only the browser's cookie holds
// a session's token; the control plane presents it.
type SessionService interface {
	// CreateSession starts a session for accountID, which the caller has
	// just authenticated (or signed up), and returns its token.
	CreateSession(ctx context.Context, accountID string) (token string, expires time.Time, err error)

	// SessionAccount returns the account of an unexpired session token.
	//
	// Returns EUNAUTHENTICATED for an empty, unknown or expired token.
	SessionAccount(ctx context.Context, token string) (Account, error)

	// DeleteSession ends the session of token, whoever presents it (the
	// token is the proof), and reports whether there was one.
	DeleteSession(ctx context.Context, token string) (bool, error)
}
