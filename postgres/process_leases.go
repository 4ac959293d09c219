package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
)

// The leases of data-plane processes as a whole: released after a dead
// process's spool is replayed (ReleaseProcessLeases), captured in full when
// its spool is lost (AbandonProcess), and listed for operators
// (ProcessLeases, `wattfare spool list`). SQL in
// migrations/functions/wattfare_release_process_leases.sql and
// wattfare_process_abandon.sql.

// ReleaseProcessLeases implements wattfare.Ledger.
func (l *Ledger) ReleaseProcessLeases(ctx context.Context, processID string) (int, error) {
	var n int
	err := retry(ctx, func() error {
		return l.db.QueryRow(ctx, `SELECT wattfare_release_process_leases($1)`, processID).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("release leases of process %s: %w", processID, err)
	}
	return n, nil
}

// AbandonProcess implements wattfare.Ledger.
func (l *Ledger) AbandonProcess(ctx context.Context, processID string) (wattfare.Money, error) {
	var n int
	var captured int64
	var alive *time.Time
	err := retry(ctx, func() error {
		return l.db.QueryRow(ctx, `SELECT * FROM wattfare_process_abandon($1)`, processID).Scan(&n, &captured, &alive)
	})
	if err != nil {
		return 0, fmt.Errorf("abandon process %s: %w", processID, err)
	}
	if alive != nil {
		return 0, fmt.Errorf("abandon process %s: a lease of it is valid until %s: %w",
			processID, alive.UTC().Format(time.RFC3339), wattfare.ErrProcessAlive)
	}
	return wattfare.Money(captured), nil
}

// ProcessLeases is one data-plane process's open leases, as `wattfare spool
// list` shows them.
type ProcessLeases struct {
	ProcessID string
	Leases    int
	Held      wattfare.Money // what the open leases hold
	ExpiresAt time.Time      // the latest expiry among them: past it, the process renewed nothing
	GrantedAt time.Time      // the earliest grant among them
}

// ProcessLeases lists every process with an open (unreleased) lease, the
// one whose leases expire first first: a process whose leases all expired
// is dead or cut off from Postgres, and its leases stay held until its
// spool is replayed or it is abandoned.
func (l *Ledger) ProcessLeases(ctx context.Context) ([]ProcessLeases, error) {
	rows, err := l.db.Query(ctx, `
SELECT process_id, count(*)::integer, coalesce(sum(amount), 0)::bigint, max(expires_at), min(granted_at)
FROM leases WHERE released_at IS NULL
GROUP BY process_id ORDER BY max(expires_at), process_id`)
	if err != nil {
		return nil, fmt.Errorf("list process leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProcessLeases, error) {
		var p ProcessLeases
		var held int64
		err := r.Scan(&p.ProcessID, &p.Leases, &held, &p.ExpiresAt, &p.GrantedAt)
		p.Held = wattfare.Money(held)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list process leases: %w", err)
	}
	return out, nil
}
