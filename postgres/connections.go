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

// MaxMonthlyCap bounds a connection's monthly cap.
const MaxMonthlyCap = wattfare.MaxMonthlyCap

// Connections lists connections and lets their owners change caps and
// revoke. Methods that take an accountID answer NOT_FOUND for another
// account's connection, exactly as for one that does not exist.
type Connections struct {
	DB *pgxpool.Pool
	// LeaseWait bounds how long a revoke or a lowered cap waits for
	// data-plane leases.
	LeaseWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backstop inserts the upstream backstop's key jobs (zero: none).
	Backstop Backstop
	// Events writes connection.cap_changed and connection.revoked webhook events.
	Events Outbox
}

var _ wattfare.ConnectionService = (*Connections)(nil)

func (s *Connections) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// connectionFrom is a connection row with its spend in the period ending at
// resetsAt (captured and held) and what its wallet has not spent.
func connectionFrom(r sqlc.Connection, captured, held, walletUnspent int64, resetsAt time.Time) wattfare.ConnectionSpend {
	c := wattfare.ConnectionSpend{
		Connection: wattfare.Connection{
			ID: r.ID, AppID: r.AppID, Mode: wattfare.Mode(r.Mode), AppUserID: r.AppUserID, AccountID: r.AccountID,
			MonthlyCap: wattfare.Money(r.MonthlyCap), Status: wattfare.ConnectionStatus(r.Status), Version: r.Version,
			CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt,
		},
		SpentThisPeriod: wattfare.Money(captured),
		Held:            wattfare.Money(held),
		ResetsAt:        resetsAt,
	}
	c.Remaining = remaining(c.Status, c.MonthlyCap, c.SpentThisPeriod, wattfare.Money(walletUnspent))
	return c
}

// remaining is what a connection can still spend this period: its cap less
// what it spent, bounded by what the paying wallet has not spent (wallet);
// zero unless it is active.
func remaining(status wattfare.ConnectionStatus, cap, spent, wallet wattfare.Money) wattfare.Money {
	if status != wattfare.ConnectionActive {
		return 0
	}
	return max(0, min(cap-spent, wallet))
}

func connectionKey(c wattfare.ConnectionSpend) cursorKey { return cursorKey{c.CreatedAt, c.ID} }

func errNoConnection() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such connection") }

// ListForAccount returns a page of the apps accountID connected (mode "" for
// both modes), newest first.
func (s *Connections) ListForAccount(ctx context.Context, accountID string, mode wattfare.Mode, p wattfare.Page) (wattfare.Paged[wattfare.ConnectionSpend], error) {
	now := s.now()
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.ConnectionSpend, error) {
		rows, err := queries.AccountConnectionsPage(ctx, s.DB, sqlc.AccountConnectionsPageParams{
			Period: pgDate(wattfare.PeriodStart(now)), AccountID: accountID, Mode: string(mode),
			AfterAt: after.at(), AfterID: after.id(), Lim: limit,
		})
		out := make([]wattfare.ConnectionSpend, len(rows))
		for i, r := range rows {
			out[i] = connectionFrom(r.Connection, r.Captured, r.Held, r.WalletUnspent, wattfare.PeriodEnd(now))
		}
		return out, interpretError(err)
	}, connectionKey)
}

// ListForApp returns a page of an app's connections in mode. The caller has
// authorized the app.
func (s *Connections) ListForApp(ctx context.Context, appID string, mode wattfare.Mode, p wattfare.Page) (wattfare.Paged[wattfare.ConnectionSpend], error) {
	now := s.now()
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.ConnectionSpend, error) {
		rows, err := queries.AppConnectionsPage(ctx, s.DB, sqlc.AppConnectionsPageParams{
			Period: pgDate(wattfare.PeriodStart(now)), AppID: appID, Mode: string(mode),
			AfterAt: after.at(), AfterID: after.id(), Lim: limit,
		})
		out := make([]wattfare.ConnectionSpend, len(rows))
		for i, r := range rows {
			out[i] = connectionFrom(r.Connection, r.Captured, r.Held, r.WalletUnspent, wattfare.PeriodEnd(now))
		}
		return out, interpretError(err)
	}, connectionKey)
}

// ForAccount returns one of accountID's connections.
func (s *Connections) ForAccount(ctx context.Context, accountID, connID string) (wattfare.ConnectionSpend, error) {
	now := s.now()
	r, err := queries.AccountConnection(ctx, s.DB, sqlc.AccountConnectionParams{
		Period: pgDate(wattfare.PeriodStart(now)), ID: connID, AccountID: accountID,
	})
	if err != nil {
		return wattfare.ConnectionSpend{}, fmt.Errorf("get connection: %w", interpretError(err, errNoConnection()))
	}
	return connectionFrom(r.Connection, r.Captured, r.Held, r.WalletUnspent, wattfare.PeriodEnd(now)), nil
}

// SetCap changes the monthly cap of one of accountID's connections. When the
// cap goes down it returns once no data-plane process holds a lease granted
// under the old cap.
func (s *Connections) SetCap(ctx context.Context, accountID, connID string, cap wattfare.Money) (wattfare.ConnectionSpend, error) {
	if cap < 0 || cap > MaxMonthlyCap {
		return wattfare.ConnectionSpend{}, wattfare.InvalidField("monthlyCap", "must be between 0.00 and %s", MaxMonthlyCap)
	}
	var old wattfare.Money
	var leases []string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		row, err := queries.OwnedConnectionForUpdate(ctx, tx, sqlc.OwnedConnectionForUpdateParams{ID: connID, AccountID: accountID})
		if err != nil {
			return fmt.Errorf("lock connection: %w", interpretError(err, errNoConnection()))
		}
		old = wattfare.Money(row.MonthlyCap)
		if row.Status != string(wattfare.ConnectionActive) {
			return wattfare.Errorf(wattfare.ECONFLICT, "this connection is revoked")
		}
		if old == cap {
			return nil
		}
		if cap < old {
			if err := capCoversSpend(ctx, tx, connID, wattfare.PeriodStart(s.now()), cap); err != nil {
				return err
			}
		}
		if err := queries.SetConnectionCap(ctx, tx, sqlc.SetConnectionCapParams{ID: connID, MonthlyCap: cap.Nanos()}); err != nil {
			return fmt.Errorf("set cap: %w", interpretError(err))
		}
		if cap < old {
			if leases, err = openLeases(ctx, tx, LeaseScope{ConnectionID: connID}); err != nil {
				return err
			}
		}
		if _, err := s.Backstop.sync(ctx, tx, connID); err != nil { // the key's limit follows the cap
			return err
		}
		// The thresholds of the new cap are computed by the next settlement.
		if _, err := tx.Exec(ctx, `UPDATE connection_periods SET alert_at = 0 WHERE connection_id = $1 AND period = $2`,
			connID, pgDate(wattfare.PeriodStart(s.now()))); err != nil {
			return fmt.Errorf("reset alerts: %w", interpretError(err))
		}
		if err := s.Events.connection(ctx, tx, connID, wattfare.EventConnectionCapChanged, map[string]any{"previous_monthly_cap": old}); err != nil {
			return err
		}
		return audit(ctx, tx, accountID, "connection.cap", "connection", connID, map[string]any{"from": old, "to": cap})
	})
	if err != nil {
		return wattfare.ConnectionSpend{}, err
	}
	return s.reread(ctx, accountID, connID, awaitLeases(ctx, s.DB, s.LeaseWait, leases))
}

// capCoversSpend refuses a monthly cap below what the connection already
// captured this period: the ledger would then show more spent than the cap
// (DESIGN.md invariant 1), by the user's own hand. The period's row stays
// locked until the caller commits, so no settlement lands between this
// check and the new cap (settlements lock it too; the connection row is
// locked first, in the ledger's lock order).
func capCoversSpend(ctx context.Context, tx pgx.Tx, connID string, period time.Time, cap wattfare.Money) error {
	captured, err := queries.LockPeriodCaptured(ctx, tx, sqlc.LockPeriodCapturedParams{ConnectionID: connID, Period: pgDate(period)})
	if isNotFound(err) { // nothing spent this period
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spend this period: %w", interpretError(err))
	}
	if spent := wattfare.Money(captured); cap < spent {
		return &wattfare.Error{Code: wattfare.EINVALID, Field: "monthlyCap",
			Message:  fmt.Sprintf("$%s is already spent this month: choose a monthly cap of at least $%s", spent, spent),
			Metadata: map[string]any{"spent": spent.String(), "minimum": spent.String()}}
	}
	return nil
}

// reread returns the connection as committed, with pending (a
// CodePropagationPending error or nil) alongside: a committed write is
// reported as done even when the data plane has yet to catch up.
func (s *Connections) reread(ctx context.Context, accountID, connID string, pending error) (wattfare.ConnectionSpend, error) {
	c, err := s.ForAccount(context.WithoutCancel(ctx), accountID, connID)
	if err != nil {
		return wattfare.ConnectionSpend{}, err
	}
	return c, pending
}

// Revoke stops one of accountID's connections. It returns once no
// data-plane process can admit a request for it.
func (s *Connections) Revoke(ctx context.Context, accountID, connID string) (wattfare.ConnectionSpend, error) {
	var leases []string
	var keyJob int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		row, err := queries.OwnedConnectionForUpdate(ctx, tx, sqlc.OwnedConnectionForUpdateParams{ID: connID, AccountID: accountID})
		if err != nil {
			return fmt.Errorf("lock connection: %w", interpretError(err, errNoConnection()))
		}
		// Its upstream key is disabled too, by a job that commits with the
		// revoke and that the revoke waits for below.
		if keyJob, err = s.Backstop.sync(ctx, tx, connID); err != nil {
			return err
		}
		if row.Status != string(wattfare.ConnectionRevoked) {
			if err := queries.RevokeConnection(ctx, tx, connID); err != nil {
				return fmt.Errorf("revoke connection: %w", interpretError(err))
			}
			if err := audit(ctx, tx, accountID, "connection.revoke", "connection", connID, nil); err != nil {
				return err
			}
			if err := s.Events.connection(ctx, tx, connID, wattfare.EventConnectionRevoked, nil); err != nil {
				return err
			}
		}
		// Revoking again still waits: the first revoke may have answered
		// PROPAGATION_PENDING.
		leases, err = openLeases(ctx, tx, LeaseScope{ConnectionID: connID})
		return err
	})
	if err != nil {
		return wattfare.ConnectionSpend{}, err
	}
	keyDone := make(chan struct{})
	go func() { defer close(keyDone); s.Backstop.await(ctx, []int64{keyJob}) }()
	pending := awaitLeases(ctx, s.DB, s.LeaseWait, leases)
	<-keyDone
	return s.reread(ctx, accountID, connID, pending)
}

// Ensure returns the connection (appID, mode, appUserID), creating it for
// accountID with cap when it does not exist. The demo seed uses it; the
// consent flow creates connections in normal operation.
func (s *Connections) Ensure(ctx context.Context, appID string, mode wattfare.Mode, appUserID, accountID string, cap wattfare.Money) (wattfare.ConnectionSpend, error) {
	id, err := queries.EnsureConnection(ctx, s.DB, sqlc.EnsureConnectionParams{
		ID: wattfare.NewID("conn_"), AppID: appID, Mode: string(mode), AppUserID: appUserID, AccountID: accountID, MonthlyCap: cap.Nanos(),
	})
	if err != nil {
		return wattfare.ConnectionSpend{}, fmt.Errorf("ensure connection: %w", interpretError(err))
	}
	now := s.now()
	r, err := queries.ConnectionByID(ctx, s.DB, sqlc.ConnectionByIDParams{Period: pgDate(wattfare.PeriodStart(now)), ID: id})
	if err != nil {
		return wattfare.ConnectionSpend{}, fmt.Errorf("get connection: %w", interpretError(err, errNoConnection()))
	}
	return connectionFrom(r.Connection, r.Captured, r.Held, r.WalletUnspent, wattfare.PeriodEnd(now)), nil
}
