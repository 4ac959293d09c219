package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// Ledger is the spend engine's Postgres side: each method is one call of a
// SQL function from migrations/002_ledger.sql, so each step is one atomic
// transaction that takes its row locks in the migration's global order.
type Ledger struct {
	db *pgxpool.Pool
}

var _ spend.Ledger = (*Ledger)(nil)

// NewLedger returns the ledger on db.
func NewLedger(db *pgxpool.Pool) *Ledger { return &Ledger{db: db} }

// retry runs f again when Postgres aborted it for a deadlock or a
// serialization failure: both are safe to repeat, nothing was committed.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		err = f()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 3 * time.Millisecond):
		}
	}
	return err
}

// GrantLease implements spend.Ledger.
func (l *Ledger) GrantLease(ctx context.Context, r spend.LeaseRequest) (spend.LeaseGrant, error) {
	var g spend.LeaseGrant
	err := retry(ctx, func() error {
		var exp, keyExp *time.Time
		var granted, capv, captured, held, wallet int64
		err := l.db.QueryRow(ctx, `SELECT * FROM wattfare_lease_grant($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.LeaseID, r.ConnectionID, r.KeyID, r.ProcessID, r.Period.UTC(),
			int64(r.Amount), int64(r.Need), int64(r.Min), int32(r.TTL/time.Millisecond),
		).Scan(&granted, &exp, &g.Reason, &capv, &captured, &held, &wallet, &keyExp)
		if err != nil {
			return err
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
		return spend.LeaseGrant{}, fmt.Errorf("grant lease: %w", err)
	}
	return g, nil
}

// Commit implements spend.Ledger.
func (l *Ledger) Commit(ctx context.Context, ss []spend.Settlement, releases []string) error {
	n := len(ss)
	var (
		reqID, leaseID, appID, mode, connID, acctID, appUser, keyID = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		model, upstream, upstreamID, endpoint, status               = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at                                                          = make([]time.Time, n)
		stream                                                      = make([]bool, n)
		from, prompt, completion, cached, reasoning, cost           = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		dur                                                         = make([]int32, n)
	)
	for i := range ss {
		s := &ss[i]
		u := &s.Usage
		reqID[i], leaseID[i], appID[i], mode[i], connID[i], acctID[i], appUser[i], keyID[i] =
			s.RequestID, s.LeaseID, s.AppID, string(s.Mode), s.ConnectionID, s.AccountID, s.AppUserID, s.KeyID
		endpoint[i] = u.Endpoint
		if endpoint[i] == "" {
			endpoint[i] = "chat"
		}
		status[i] = u.Status
		if status[i] == "" {
			status[i] = "ok"
		}
		model[i], upstream[i], upstreamID[i] = u.Model, u.Upstream, u.UpstreamID
		at[i] = s.At.UTC()
		stream[i] = u.Stream
		from[i], prompt[i], completion[i], cached[i], reasoning[i], cost[i] =
			int64(s.FromLease), u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.ReasoningTokens, int64(u.Cost)
		dur[i] = int32(min(u.Duration.Milliseconds(), 1<<31-1))
	}
	if releases == nil {
		releases = []string{}
	}
	err := retry(ctx, func() error {
		_, err := l.db.Exec(ctx, `SELECT * FROM wattfare_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
			$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			reqID, at, leaseID, from, appID, mode, connID, acctID, appUser, keyID, model, upstream,
			upstreamID, endpoint, stream, status, prompt, completion, cached, reasoning, cost, dur, releases)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		// Bad data or a broken constraint: the same records fail again.
		return fmt.Errorf("commit settlements: %w: %w", spend.ErrRejected, err)
	}
	if err != nil {
		return fmt.Errorf("commit settlements: %w", err)
	}
	return nil
}

// SweepExpiredLeases implements spend.Ledger.
func (l *Ledger) SweepExpiredLeases(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := retry(ctx, func() error {
			return l.db.QueryRow(ctx, `SELECT count(*) FROM wattfare_lease_sweep(500)`).Scan(&n)
		})
		if err != nil {
			return total, fmt.Errorf("sweep leases: %w", err)
		}
		total += n
		if n < 500 {
			return total, nil
		}
	}
}

// CheckPayers implements spend.Ledger.
func (l *Ledger) CheckPayers(ctx context.Context, checks []spend.PayerCheck) ([]spend.PayerState, error) {
	conn, key, lease := make([]string, len(checks)), make([]string, len(checks)), make([]string, len(checks))
	for i, c := range checks {
		conn[i], key[i], lease[i] = c.ConnectionID, c.KeyID, c.LeaseID
	}
	rows, err := l.db.Query(ctx, `
SELECT CASE
         WHEN c.id IS NULL THEN 'not_connected'
         WHEN x.key <> '' AND (k.id IS NULL OR k.revoked_at IS NOT NULL
              OR (k.expires_at IS NOT NULL AND k.expires_at <= now())
              OR k.app_id <> c.app_id OR k.mode <> c.mode) THEN 'invalid_api_key'
         WHEN a.suspended_at IS NOT NULL THEN 'app_suspended'
         WHEN c.status <> 'active' THEN 'connection_revoked'
         ELSE '' END,
       coalesce(ls.released_at IS NULL AND ls.expires_at > now(), false)
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(conn, key, lease, ord)
LEFT JOIN connections c ON c.id = x.conn
LEFT JOIN apps a ON a.id = c.app_id
LEFT JOIN api_keys k ON k.id = x.key
LEFT JOIN leases ls ON ls.id = x.lease
ORDER BY x.ord`, conn, key, lease)
	if err != nil {
		return nil, fmt.Errorf("check payers: %w", err)
	}
	out := make([]spend.PayerState, 0, len(checks))
	for rows.Next() {
		var st spend.PayerState
		if err := rows.Scan(&st.Reason, &st.LeaseOpen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("check payers: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check payers: %w", err)
	}
	return out, nil
}

// Budget implements spend.Ledger.
func (l *Ledger) Budget(ctx context.Context, connectionID string, period time.Time) (spend.Budget, error) {
	var capv, captured, held int64
	var wallet *int64
	err := l.db.QueryRow(ctx, `
SELECT c.monthly_cap, coalesce(cp.captured, 0), coalesce(cp.held, 0), w.credits - w.captured - w.held
FROM connections c
LEFT JOIN connection_periods cp ON cp.connection_id = c.id AND cp.period = $2
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = $1`, connectionID, period.UTC()).Scan(&capv, &captured, &held, &wallet)
	if errors.Is(err, pgx.ErrNoRows) {
		return spend.Budget{}, &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}
	}
	if err != nil {
		return spend.Budget{}, fmt.Errorf("read budget: %w", err)
	}
	b := spend.Budget{
		Cap: wattfare.Money(capv), Spent: wattfare.Money(captured), Held: wattfare.Money(held),
		ResetsAt: wattfare.PeriodEnd(period),
	}
	if wallet != nil {
		b.Wallet = wattfare.Money(max(0, *wallet))
	}
	b.Remaining = max(0, min(b.Cap-b.Spent-b.Held, b.Wallet))
	return b, nil
}

// ShrinkLease implements spend.Ledger.
func (l *Ledger) ShrinkLease(ctx context.Context, leaseID string, amount wattfare.Money) (wattfare.Money, error) {
	var x int64
	err := retry(ctx, func() error {
		return l.db.QueryRow(ctx, `SELECT wattfare_lease_shrink($1, $2)`, leaseID, int64(amount)).Scan(&x)
	})
	if err != nil {
		return 0, fmt.Errorf("shrink lease: %w", err)
	}
	return wattfare.Money(x), nil
}

// AnnouncePressure implements spend.Ledger.
func (l *Ledger) AnnouncePressure(ctx context.Context, connectionID string) error {
	payload, err := json.Marshal(wattfare.ChangeEvent{Entity: spend.EntityLeasePressure, ID: connectionID})
	if err != nil {
		return err
	}
	if _, err := l.db.Exec(ctx, `SELECT pg_notify($1, $2)`, wattfare.NotifyChannel, string(payload)); err != nil {
		return fmt.Errorf("announce lease pressure: %w", err)
	}
	return nil
}
