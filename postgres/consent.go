package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Consent is the storage of the consent flow: the keys that verify session
// tokens, the apps the popup names, the connections an approval writes and
// the status GET /v1/session reports.
type Consent struct {
	DB *pgxpool.Pool
	// Backstop inserts the upstream backstop's key jobs (zero: none).
	Backstop Backstop
	// Events writes connection.approved webhook events.
	Events Outbox
}

var _ wattfare.ConsentService = (*Consent)(nil)

// SessionKey returns the stored key whose kid signed a session token.
// An unknown kid is ENOTFOUND.
func (s *Consent) SessionKey(ctx context.Context, kid wattfare.KeyID) (wattfare.APIKey, error) {
	row, err := queries.ConsentKey(ctx, s.DB, kid.String())
	if err != nil {
		return wattfare.APIKey{}, interpretError(err)
	}
	return wattfare.APIKey{
		ID:        row.ID,
		AppID:     row.AppID,
		Mode:      wattfare.Mode(row.Mode),
		PublicKey: row.PublicKey,
		ExpiresAt: row.ExpiresAt,
		RevokedAt: row.RevokedAt,
	}, nil
}

// App returns what the consent flow needs of an app.
func (s *Consent) App(ctx context.Context, appID string) (wattfare.App, error) {
	row, err := queries.AppByID(ctx, s.DB, appID)
	if err != nil {
		return wattfare.App{}, interpretError(err)
	}
	return appFrom(row).App, nil
}

// OriginRegistered reports whether any app lists origin among its allowed
// origins. CORS preflights, which carry no token, are answered by it.
func (s *Consent) OriginRegistered(ctx context.Context, origin string) (bool, error) {
	ok, err := queries.ConsentOriginRegistered(ctx, s.DB, origin)
	if err != nil {
		return false, fmt.Errorf("origin registered: %w", err)
	}
	return ok, nil
}

// Connection returns the state of the connection of (app, mode, app user)
// at now. A user who never connected is ENOTFOUND.
func (s *Consent) Connection(ctx context.Context, appID string, mode wattfare.Mode, appUserID string, now time.Time) (wattfare.ConnectionState, error) {
	return s.connection(ctx, s.DB, appID, mode, appUserID, now)
}

func (s *Consent) connection(ctx context.Context, db sqlc.DBTX, appID string, mode wattfare.Mode, appUserID string, now time.Time) (wattfare.ConnectionState, error) {
	row, err := queries.ConsentConnection(ctx, db, sqlc.ConsentConnectionParams{
		AppID: appID, Mode: string(mode), AppUserID: appUserID,
		Period: pgtype.Date{Time: wattfare.PeriodStart(now), Valid: true},
	})
	if err != nil {
		return wattfare.ConnectionState{}, interpretError(err)
	}
	st := wattfare.ConnectionState{
		ID:         row.ID,
		AccountID:  row.AccountID,
		Status:     wattfare.ConnectionStatus(row.Status),
		MonthlyCap: wattfare.Money(row.MonthlyCap),
		Spent:      wattfare.Money(row.Captured),
		Held:       wattfare.Money(row.Held),
		ResetsAt:   wattfare.PeriodEnd(now),
		RevokedAt:  row.RevokedAt,
	}
	st.Remaining = remaining(st.Status, st.MonthlyCap, st.Spent, wattfare.Money(row.WalletAvailable))
	return st, nil
}

// Approve stores an approval: the connection of (app, mode, app user) is
// created or reactivated for the approving account with its cap. Approving
// the same thing again changes nothing.
func (s *Consent) Approve(ctx context.Context, a wattfare.Approval, now time.Time) (wattfare.ConnectionState, error) {
	if a.MonthlyCap < wattfare.Cent || a.MonthlyCap > MaxMonthlyCap {
		return wattfare.ConnectionState{}, wattfare.InvalidField("monthlyCap", "choose a monthly cap between $0.01 and $100,000")
	}
	var st wattfare.ConnectionState
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		// Lock first: a revoke committing while this approval runs must be
		// what the checks below see, or the upsert would undo it.
		if err := queries.ConsentLockConnection(ctx, tx, sqlc.ConsentLockConnectionParams{AppID: a.AppID, Mode: string(a.Mode), AppUserID: a.AppUserID}); err != nil {
			return fmt.Errorf("lock connection: %w", err)
		}
		cur, err := s.connection(ctx, tx, a.AppID, a.Mode, a.AppUserID, now)
		switch {
		case err == nil:
			if cur.Status == wattfare.ConnectionRevoked && cur.RevokedAt != nil && a.IssuedAt.Before(*cur.RevokedAt) {
				return wattfare.Errorf(wattfare.ECONFLICT, "this connection was revoked after the request was made; connect again from the app")
			}
			if a.Unattended && (cur.AccountID != a.AccountID || cur.Status != wattfare.ConnectionActive) {
				return wattfare.Errorf(wattfare.ECONFLICT, "sign in to Wattfare to change this connection")
			}
			// The connection keeps this period's spend whoever approves:
			// a cap below it would break captured ≤ cap.
			if err := capCoversSpend(ctx, tx, cur.ID, wattfare.PeriodStart(now), a.MonthlyCap); err != nil {
				return err
			}
		case wattfare.ErrorCode(err) == wattfare.ENOTFOUND:
		default:
			return err
		}
		if err := queries.EnsureWallet(ctx, tx, sqlc.EnsureWalletParams{AccountID: a.AccountID, Mode: string(a.Mode)}); err != nil {
			return fmt.Errorf("ensure wallet: %w", err)
		}
		id, err := queries.ConsentUpsertConnection(ctx, tx, sqlc.ConsentUpsertConnectionParams{
			ID: wattfare.NewID("conn_"), AppID: a.AppID, Mode: string(a.Mode), AppUserID: a.AppUserID,
			AccountID: a.AccountID, MonthlyCap: int64(a.MonthlyCap),
		})
		switch {
		case isNotFound(err): // nothing changed: a replay
		case err != nil:
			return fmt.Errorf("store connection: %w", interpretError(err))
		default:
			if err := audit(ctx, tx, a.AccountID, "connection.approve", "connection", id, map[string]any{
				"app_id": a.AppID, "mode": a.Mode, "app_user_id": a.AppUserID, "monthly_cap": a.MonthlyCap,
			}); err != nil {
				return err
			}
			// A live connection gets its own upstream key, provisioned by a
			// job that commits with the approval (an approved cap change
			// patches the limit of the key it has).
			if _, err := s.Backstop.provision(ctx, tx, id, a.Mode); err != nil {
				return err
			}
			if err := s.Events.connection(ctx, tx, id, wattfare.EventConnectionApproved, nil); err != nil {
				return err
			}
		}
		st, err = s.connection(ctx, tx, a.AppID, a.Mode, a.AppUserID, now)
		return err
	})
	return st, err
}

// Sandbox test accounts.
const (
	sandboxFloor  = 50 * wattfare.Dollar
	sandboxTarget = 100 * wattfare.Dollar
)

// SandboxDomain is the email domain of apps' sandbox accounts. It is
// Wattfare's: nobody signs up with an address in it or under it (see
// ReservedEmail).
const SandboxDomain = "sandbox.wattfare.dev"

// ReservedEmail reports whether email (normalized) is in SandboxDomain.
func ReservedEmail(email string) bool {
	_, domain, _ := strings.Cut(email, "@")
	return domain == SandboxDomain || strings.HasSuffix(domain, "."+SandboxDomain)
}

// sandboxAddresses is how many addresses an app's sandbox account may take.
const sandboxAddresses = 16

// sandboxEmails are the addresses an app's sandbox account may have, in the
// order they are taken. The first is derived from the app id, which every
// publishable key shows, so a person may have signed up with it (and the
// next ones) before SandboxDomain was reserved; such an account is never
// taken for the sandbox, which would hand it every anonymous test
// connection of the app. The sandbox takes the next address instead.
func sandboxEmails(appID string) []string {
	base := "sandbox+" + strings.ToLower(strings.TrimPrefix(appID, "app_"))
	out := make([]string, sandboxAddresses)
	out[0] = base + "@" + SandboxDomain
	for i := 1; i < len(out); i++ {
		out[i] = base + "+" + strconv.Itoa(i) + "@" + SandboxDomain
	}
	return out
}

// errNoSandbox is the answer when a person holds every sandbox address of
// the app: the app's anonymous test flow cannot complete, a signed-in one
// still can.
func errNoSandbox() error {
	return wattfare.Errorf(wattfare.ECONFLICT, "this app's sandbox test account is unavailable (its addresses belong to other accounts); sign in to Wattfare to approve in test mode")
}

// findSandbox returns the app's sandbox account, or, when there is none
// yet, the address to create it with.
func findSandbox(ctx context.Context, db sqlc.DBTX, appID string) (id, free string, err error) {
	emails := sandboxEmails(appID)
	rows, err := queries.SandboxCandidates(ctx, db, emails)
	if err != nil {
		return "", "", fmt.Errorf("sandbox account of %s: %w", appID, interpretError(err))
	}
	held := make(map[string]sqlc.SandboxCandidatesRow, len(rows))
	for _, r := range rows {
		held[r.Email] = r
	}
	for _, e := range emails {
		if h, ok := held[e]; ok && h.Sandbox {
			return h.ID, "", nil
		}
	}
	for _, e := range emails {
		if _, ok := held[e]; !ok {
			return "", e, nil
		}
	}
	return "", "", errNoSandbox()
}

// SandboxAccount returns the app's sandbox account, creating it when
// missing, with its test wallet topped up. Test-mode consent from a browser
// that is not signed in to Wattfare connects to it, so an app developer's
// test flow completes without anyone signing in. It cannot sign in: its
// password hash matches no password. It has a test wallet only: nothing
// can charge it real money. Its address is one of sandboxEmails.
func (s *Consent) SandboxAccount(ctx context.Context, appID string) (string, error) {
	var id string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		// Twice at most: an approval creating the sandbox at the same time
		// takes the address this one found free, and then is the sandbox.
		for range 2 {
			found, free, err := findSandbox(ctx, tx, appID)
			if err != nil {
				return err
			}
			if found != "" {
				id = found
				break
			}
			row, err := queries.InsertAccount(ctx, tx, sqlc.InsertAccountParams{
				ID: wattfare.NewID("acct_"), Email: free, PasswordHash: "!sandbox", DisplayName: "Sandbox test user",
			})
			if err == nil {
				id = row.ID
				break
			}
			if !isNotFound(err) { // no row: the address was taken meanwhile
				return fmt.Errorf("create sandbox account: %w", interpretError(err))
			}
		}
		if id == "" {
			return errNoSandbox()
		}
		if err := queries.EnsureWallet(ctx, tx, sqlc.EnsureWalletParams{AccountID: id, Mode: string(wattfare.ModeTest)}); err != nil {
			return fmt.Errorf("ensure wallet: %w", err)
		}
		// Locked, so that approvals arriving together top it up once.
		avail, err := queries.TestCreditsForUpdate(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("sandbox wallet: %w", err)
		}
		if wattfare.Money(avail) >= sandboxFloor {
			return nil
		}
		// The same credit as any other: a ledger row, an audit row, and a
		// change event, so that the data plane drops budget_exhausted
		// refusals it cached for the sandbox's connections.
		return creditWallet(ctx, tx, id, id, wattfare.ModeTest, sandboxTarget-wattfare.Money(avail), "sandbox auto-funding")
	})
	return id, err
}

// IsSandboxAccount reports whether accountID is appID's sandbox account.
func (s *Consent) IsSandboxAccount(ctx context.Context, appID, accountID string) (bool, error) {
	id, _, err := findSandbox(ctx, s.DB, appID)
	switch {
	case wattfare.ErrorCode(err) == wattfare.ECONFLICT: // there is none
		return false, nil
	case err != nil:
		return false, err
	}
	return id != "" && id == accountID, nil
}

// Account returns the signed-in account's name for the popup.
func (s *Consent) Account(ctx context.Context, id string) (wattfare.ConsentAccount, error) {
	row, err := queries.AccountByID(ctx, s.DB, id)
	if err != nil {
		return wattfare.ConsentAccount{}, interpretError(err)
	}
	return wattfare.ConsentAccount{ID: row.ID, Email: row.Email, DisplayName: row.DisplayName}, nil
}
