package wattfare

import (
	"context"
	"time"
)

// ConnectionSpend is a connection with its spend this period, as the
// paying account and the app's developer see it.
type ConnectionSpend struct {
	Connection
	// SpentThisPeriod is what was captured in the current calendar month (UTC).
	SpentThisPeriod Money
	// Held is reserved by data-plane budget leases: requests in progress and
	// the reserve a process keeps to admit without a database round trip. It
	// comes back when unused, so it is shown apart and not taken from Remaining.
	Held Money
	// Remaining is what can still be spent this period: the cap less what was
	// spent, bounded by what the wallet has not spent; zero once revoked.
	// It reads like the data plane's GET /v1/budget, which likewise leaves
	// idle lease reserve out.
	Remaining Money
	ResetsAt  time.Time
}

// ConnectionService lists connections and lets the accounts that pay for
// them change their caps and revoke them.
//
// Methods that take an accountID act for the signed-in account that pays:
// they answer ENOTFOUND for another account's connection, exactly as for
// one that does not exist.
type ConnectionService interface {
	// ListForAccount returns a page of the connections accountID pays for
	// (mode "" for both modes), newest first.
	//
	// Returns EINVALID for a page size out of range or a malformed cursor.
	ListForAccount(ctx context.Context, accountID string, mode Mode, p Page) (Paged[ConnectionSpend], error)

	// ListForApp returns a page of an app's connections in mode, newest
	// first. The caller has authorized the app: its owner or an admin.
	//
	// Returns EINVALID as ListForAccount does.
	ListForApp(ctx context.Context, appID string, mode Mode, p Page) (Paged[ConnectionSpend], error)

	// ForAccount returns one of accountID's connections.
	//
	// Returns ENOTFOUND.
	ForAccount(ctx context.Context, accountID, connID string) (ConnectionSpend, error)

	// SetCap changes the monthly cap of one of accountID's connections. When
	// the cap goes down it returns once no data-plane process holds a lease
	// granted under the old cap.
	//
	// Returns EINVALID (field monthlyCap) for a cap out of range or below
	// what was spent this period, ENOTFOUND, ECONFLICT for a revoked
	// connection, and EPROPAGATIONPENDING together with the connection when
	// a lease was still open after the wait: the new cap stands.
	SetCap(ctx context.Context, accountID, connID string, cap Money) (ConnectionSpend, error)

	// Revoke stops one of accountID's connections; revoking a revoked one
	// waits again. It returns once no data-plane process can admit a
	// request for it.
	//
	// Returns ENOTFOUND, and EPROPAGATIONPENDING together with the revoked
	// connection as SetCap does.
	Revoke(ctx context.Context, accountID, connID string) (ConnectionSpend, error)
}

// ConnectionState is a connection as the app's browser and the consent
// popup see it: whether it exists and is active, and its spend this period.
type ConnectionState struct {
	ID         string
	AccountID  string
	Status     ConnectionStatus
	MonthlyCap Money
	Spent      Money // captured this period
	Held       Money // reserved by data-plane leases; comes back when unused
	// Remaining is what can still be spent this period: the cap less what
	// was spent, bounded by what the paying wallet has not spent. Like the
	// data plane's GET /v1/budget it leaves idle lease reserve out.
	Remaining Money
	ResetsAt  time.Time
	RevokedAt *time.Time
}

// Approval is a user's yes in the consent popup.
type Approval struct {
	AppID     string
	Mode      Mode
	AppUserID string
	AccountID string
	// MonthlyCap is what the user typed (or accepted), never the app's
	// request alone.
	MonthlyCap Money
	// IssuedAt is the session token's iat. An approval whose token predates
	// the connection's revocation is stale: a replayed approval must not
	// undo a revoke.
	IssuedAt time.Time
	// Unattended marks an approval no person made: test-mode consent from a
	// browser not signed in to Wattfare, for the app's sandbox account. It
	// may create a connection or renew the sandbox's own active one, never
	// take over a person's connection or revive a revoked one.
	Unattended bool
}

// ConsentAccount is who the consent popup says is signed in.
type ConsentAccount struct {
	ID          string
	Email       string
	DisplayName string
}

// ConsentService is what the consent flow reads and writes: the keys that
// verify apps' session tokens, the apps the popup names, and the
// connections an approval makes. Its callers are the control plane's
// consent endpoints, which have verified the app's session token (and so
// the app, mode and app user) before they call anything but SessionKey,
// App and OriginRegistered.
type ConsentService interface {
	// SessionKey returns the stored key whose kid signed a session token.
	//
	// Returns ENOTFOUND for an unknown kid.
	SessionKey(ctx context.Context, kid KeyID) (APIKey, error)

	// App returns the app a session token names.
	//
	// Returns ENOTFOUND.
	App(ctx context.Context, appID string) (App, error)

	// OriginRegistered reports whether any app lists origin among its
	// allowed origins. CORS preflights, which carry no token, are answered
	// by it.
	OriginRegistered(ctx context.Context, origin string) (bool, error)

	// Connection returns the state at now of the connection of (app, mode,
	// app user).
	//
	// Returns ENOTFOUND for a user who never connected.
	Connection(ctx context.Context, appID string, mode Mode, appUserID string, now time.Time) (ConnectionState, error)

	// Approve stores an approval: the connection of (app, mode, app user) is
	// created or reactivated for the approving account, which the caller
	// has signed in (or, Unattended, is the app's sandbox account), with
	// its cap. Approving the same thing again changes nothing.
	//
	// Returns EINVALID (field monthlyCap) for a cap out of range or below
	// this period's spend, and ECONFLICT for an approval older than the
	// connection's revocation or an unattended one that would take over a
	// person's connection or revive a revoked one.
	Approve(ctx context.Context, a Approval, now time.Time) (ConnectionState, error)

	// SandboxAccount returns the id of the app's sandbox account, creating
	// it when missing, with its test wallet topped up. Test-mode consent
	// from a browser not signed in connects to it.
	//
	// Returns ECONFLICT when people hold every sandbox address of the app.
	SandboxAccount(ctx context.Context, appID string) (string, error)

	// IsSandboxAccount reports whether accountID is appID's sandbox account.
	IsSandboxAccount(ctx context.Context, appID, accountID string) (bool, error)

	// Account returns the signed-in account's name for the popup.
	//
	// Returns ENOTFOUND.
	Account(ctx context.Context, id string) (ConsentAccount, error)
}
