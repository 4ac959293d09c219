package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/backoff"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Ledger is the spend engine's Postgres side: each method is one call of a
// SQL function of migrations/functions (wattfare_lease_grant, wattfare_settle,
// wattfare_settle_grouped, …), so each step is one atomic transaction that
// takes its row locks in the global order (migrations/functions/README.md).
// Its queries are sqlc's (queries/ledger.sql), but for two: GrantLease,
// whose function RETURNS TABLE, which sqlc cannot type (it generates
// interface{}), and Commit, whose arrays settle_encode.go writes itself.
type Ledger struct {
	db *pgxpool.Pool
}

var _ wattfare.Ledger = (*Ledger)(nil)

// NewLedger returns the ledger on db.
func NewLedger(db *pgxpool.Pool) *Ledger { return &Ledger{db: db} }

// retry runs f again, up to 6 times in all, when Postgres aborted it for a
// deadlock or a serialization failure: both are safe to repeat, nothing was
// committed. The jitter keeps the two sides of a deadlock from retrying in
// step.
func retry(ctx context.Context, f func() error) error {
	wait := backoff.Backoff{Initial: 3 * time.Millisecond, Max: 50 * time.Millisecond}
	for attempt := 1; ; attempt++ {
		err := f()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") || attempt == 6 {
			return err
		}
		if wait.Wait(ctx) != nil {
			return err
		}
	}
}

// GrantLease implements wattfare.Ledger. Its SQL is hand-written: sqlc
// v1.31 does not know the columns of a function that RETURNS TABLE.
func (l *Ledger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	var g wattfare.LeaseGrant
	err := retry(ctx, func() error {
		var exp, keyExp *time.Time
		var granted, capv, captured, held, wallet int64
		err := l.db.QueryRow(ctx, `SELECT * FROM wattfare_lease_grant($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.LeaseID, r.ConnectionID, r.KeyID, r.ProcessID, r.Period.UTC(),
			int64(r.Amount), int64(r.Need), int64(r.Min), int32(r.TTL/time.Millisecond),
		).Scan(&granted, &exp, &g.Reason, &capv, &captured, &held, &wallet, &keyExp)
		if err != nil {
			return interpretError(err)
		}
		g.Granted, g.Cap, g.Captured, g.Held, g.WalletAvailable = wattfare.Money(granted),
			wattfare.Money(capv), wattfare.Money(captured), wattfare.Money(held), wattfare.Money(wallet)
		if exp != nil {
			g.ExpiresAt = *exp
		}
		g.KeyExpiresAt = keyExp
		return nil
	})
	if err != nil {
		return wattfare.LeaseGrant{}, fmt.Errorf("grant lease: %w", err)
	}
	return g, nil
}

// Commit implements wattfare.Ledger. The batch goes to wattfare_settle as 23
// arrays that Commit writes in Postgres's binary format itself
// (settle_encode.go): pgx's generic encoding of the same arrays cost the
// data plane more CPU than the rest of settlement, so this call is
// hand-tuned rather than sqlc's. A batch that can take the fast path of
// wattfare_settle_grouped (migrations/functions/wattfare_settle_grouped.sql)
// goes there instead, with its sums per lease, period, wallet and daily
// rollup as 21 more arrays: Postgres then applies a few sums instead of
// sorting, windowing and joining the batch's rows, and falls back to
// wattfare_settle itself when the batch's leases or caps do not cover it
// or a request was already settled.
func (l *Ledger) Commit(ctx context.Context, ss []wattfare.Settlement, releases []string) error {
	args := encodeSettleArgs(ss, releases)
	defer settleArgsPool.Put(args)
	sql, n := settleSQL, settleParams
	if args.grouped {
		sql, n = settleGroupedSQL, settleGroupedParams
	}
	err := retry(ctx, func() error {
		c, err := l.db.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		_, err = c.Conn().PgConn().ExecParams(ctx, sql, args.values[:n], settleOIDs[:n], binaryFormats[:n], nil).Close()
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		// Bad data or a broken constraint: the same records fail again.
		return fmt.Errorf("commit settlements: %w: %w", wattfare.ErrRejected, err)
	}
	if err != nil {
		return fmt.Errorf("commit settlements: %w", err)
	}
	return nil
}

// CheckPayers implements wattfare.Ledger.
func (l *Ledger) CheckPayers(ctx context.Context, checks []wattfare.PayerCheck) ([]wattfare.PayerState, error) {
	arg := sqlc.CheckPayersParams{
		ConnectionIds: make([]string, len(checks)), KeyIds: make([]string, len(checks)), LeaseIds: make([]string, len(checks)),
	}
	for i, c := range checks {
		arg.ConnectionIds[i], arg.KeyIds[i], arg.LeaseIds[i] = c.ConnectionID, c.KeyID, c.LeaseID
	}
	rows, err := queries.CheckPayers(ctx, l.db, arg)
	if err != nil {
		return nil, fmt.Errorf("check payers: %w", interpretError(err))
	}
	out := make([]wattfare.PayerState, len(rows))
	for i, r := range rows {
		out[i] = wattfare.PayerState{Reason: r.Reason, LeaseOpen: r.LeaseOpen}
	}
	return out, nil
}

// Budget implements wattfare.Ledger.
func (l *Ledger) Budget(ctx context.Context, connectionID string, period time.Time) (wattfare.Budget, error) {
	r, err := queries.ConnectionBudget(ctx, l.db, sqlc.ConnectionBudgetParams{ConnectionID: connectionID, Period: pgDate(period)})
	if err != nil {
		return wattfare.Budget{}, fmt.Errorf("read budget: %w", interpretError(err,
			&wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}))
	}
	b := wattfare.Budget{
		Cap: wattfare.Money(r.MonthlyCap), Spent: wattfare.Money(r.Captured), Held: wattfare.Money(r.Held),
		ResetsAt: wattfare.PeriodEnd(period),
	}
	if r.WalletCredits != nil && r.WalletCaptured != nil {
		b.Wallet = wattfare.Money(max(0, *r.WalletCredits-*r.WalletCaptured))
	}
	b.Remaining = max(0, min(b.Cap-b.Spent, b.Wallet))
	return b, nil
}

// ShrinkLease implements wattfare.Ledger.
func (l *Ledger) ShrinkLease(ctx context.Context, leaseID string, amount wattfare.Money) (wattfare.Money, error) {
	var x int64
	err := retry(ctx, func() error {
		var err error
		x, err = queries.ShrinkLease(ctx, l.db, sqlc.ShrinkLeaseParams{LeaseID: leaseID, Amount: int64(amount)})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("shrink lease: %w", interpretError(err))
	}
	return wattfare.Money(x), nil
}

// AnnouncePressure implements wattfare.Ledger.
func (l *Ledger) AnnouncePressure(ctx context.Context, connectionID string) error {
	payload, err := json.Marshal(wattfare.ChangeEvent{Entity: wattfare.EntityLeasePressure, ID: connectionID})
	if err != nil {
		return err
	}
	if err := queries.Notify(ctx, l.db, sqlc.NotifyParams{Channel: wattfare.NotifyChannel, Payload: string(payload)}); err != nil {
		return fmt.Errorf("announce lease pressure: %w", interpretError(err))
	}
	return nil
}
