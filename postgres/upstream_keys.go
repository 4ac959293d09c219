package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// UpstreamKeys is the Postgres side of the upstream backstop: the key row
// of each live connection (migrations/013_upstream_keys.sql), which the
// jobs of jobs.UpstreamKeys lock while they bring OpenRouter in line, and
// their reconciliations (014).
type UpstreamKeys struct {
	DB *pgxpool.Pool
}

var _ jobs.UpstreamKeyStore = (*UpstreamKeys)(nil)

// Sync implements jobs.UpstreamKeyStore.
func (s *UpstreamKeys) Sync(ctx context.Context, connID string, f func(context.Context, jobs.UpstreamKeyState) (jobs.UpstreamKeyChange, error)) error {
	var ferr error
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		r, err := queries.LockUpstreamKey(ctx, tx, connID)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock upstream key: %w", interpretError(err))
		}
		markup, err := queries.UpstreamMinMarkup(ctx, tx)
		if err != nil {
			return fmt.Errorf("read markup: %w", interpretError(err))
		}
		k := r.UpstreamKey
		st := jobs.UpstreamKeyState{
			ConnectionID: connID, Mode: wattfare.Mode(r.Mode),
			Stopped:    r.Status != string(wattfare.ConnectionActive) || r.AppSuspended,
			MonthlyCap: wattfare.Money(r.MonthlyCap), MinMarkupBps: int(markup),
			Disabled: k.Disabled, Deleted: k.DeletedAt != nil,
		}
		if k.Hash != nil {
			st.Hash = *k.Hash
		}
		if k.LimitNanos != nil {
			l := wattfare.Money(*k.LimitNanos)
			st.Limit = &l
		}
		ch, err := f(ctx, st)
		if err != nil {
			ferr = err
			return err
		}
		limit := ch.Limit.Nanos()
		switch {
		case ch.None:
			return nil
		case ch.Created:
			err = queries.SaveUpstreamKeyCreated(ctx, tx, sqlc.SaveUpstreamKeyCreatedParams{
				ConnectionID: connID, Hash: &ch.Hash, Secret: ch.Sealed, LimitNanos: &limit,
			})
		case ch.Deleted:
			err = queries.SaveUpstreamKeyDeleted(ctx, tx, connID)
		default:
			err = queries.SaveUpstreamKeyState(ctx, tx, sqlc.SaveUpstreamKeyStateParams{ConnectionID: connID, LimitNanos: &limit, Disabled: ch.Disabled})
		}
		if err != nil {
			return fmt.Errorf("save upstream key: %w", interpretError(err))
		}
		// What the data plane sends upstream changed (a key now, none, or
		// another): its connection's notification makes every process
		// reload it. A new limit alone changes nothing there.
		if ch.Created || ch.Deleted || ch.Disabled != st.Disabled {
			if err := queries.TouchConnection(ctx, tx, connID); err != nil {
				return fmt.Errorf("notify connection: %w", interpretError(err))
			}
		}
		return nil
	})
	if ferr != nil {
		msg := ferr.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		if uerr := queries.UpstreamKeyFailed(context.WithoutCancel(ctx), s.DB, sqlc.UpstreamKeyFailedParams{ConnectionID: connID, LastError: msg}); uerr != nil {
			slog.Warn("record upstream key failure", "connection_id", connID, "err", uerr)
		}
		return ferr
	}
	return err
}

// KeysToCheck implements jobs.UpstreamKeyStore.
func (s *UpstreamKeys) KeysToCheck(ctx context.Context) (map[string]string, error) {
	rows, err := queries.UpstreamKeysToCheck(ctx, s.DB)
	if err != nil {
		return nil, fmt.Errorf("upstream keys to check: %w", interpretError(err))
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ConnectionID] = r.Hash
	}
	return out, nil
}

// MeteredCost implements jobs.UpstreamKeyStore.
func (s *UpstreamKeys) MeteredCost(ctx context.Context, connID string, from, to time.Time) (wattfare.Money, error) {
	n, err := queries.UpstreamMeteredCost(ctx, s.DB, sqlc.UpstreamMeteredCostParams{ConnectionID: connID, FromAt: from, ToAt: to})
	if err != nil {
		return 0, fmt.Errorf("metered cost: %w", interpretError(err))
	}
	return wattfare.Money(n), nil
}

// RecordCheck implements jobs.UpstreamKeyStore.
func (s *UpstreamKeys) RecordCheck(ctx context.Context, c jobs.UpstreamKeyCheck) error {
	var limit *int64
	if c.Limit != nil {
		l := c.Limit.Nanos()
		limit = &l
	}
	err := queries.InsertUpstreamKeyCheck(ctx, s.DB, sqlc.InsertUpstreamKeyCheckParams{
		ConnectionID: c.ConnectionID, Hash: c.Hash, Period: pgDate(c.Period), Ours: c.Ours.Nanos(),
		Upstream: c.Upstream.Nanos(), KeyLimit: limit, Disabled: c.Disabled,
	})
	if err != nil {
		return fmt.Errorf("record upstream key check: %w", interpretError(err))
	}
	return nil
}

// Drift returns the newest reconciliation of each connection's key,
// largest drift first, at most limit of them.
func (s *UpstreamKeys) Drift(ctx context.Context, limit int) ([]wattfare.UpstreamKeyDrift, error) {
	rows, err := queries.LatestUpstreamKeyChecks(ctx, s.DB, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("upstream key drift: %w", interpretError(err))
	}
	out := make([]wattfare.UpstreamKeyDrift, len(rows))
	for i, r := range rows {
		c := r.UpstreamKeyCheck
		d := wattfare.UpstreamKeyDrift{
			ConnectionID: c.ConnectionID, Period: c.Period.Time, CheckedAt: c.CheckedAt,
			Metered: wattfare.Money(c.Ours), Upstream: wattfare.Money(c.Upstream), Disabled: c.Disabled,
		}
		if c.Drift != nil {
			d.Drift = wattfare.Money(*c.Drift)
		}
		if c.KeyLimit != nil {
			l := wattfare.Money(*c.KeyLimit)
			d.Limit = &l
		}
		out[i] = d
	}
	return out, nil
}

// Backstop inserts the jobs of the upstream backstop in a writing
// transaction. Its zero value (no queue: key management is not
// configured) inserts none.
type Backstop struct {
	Jobs jobs.Queue
	// LeaseWait bounds how long a write that stops spending waits for the
	// keys it disables.
	LeaseWait time.Duration
}

func (b Backstop) on() bool { return b.Jobs != nil }

// provision gives a live connection just approved its key row and a job
// that creates the key.
func (b Backstop) provision(ctx context.Context, tx pgx.Tx, connID string, mode wattfare.Mode) (int64, error) {
	if !b.on() || mode != wattfare.ModeLive {
		return 0, nil
	}
	if err := queries.EnsureUpstreamKey(ctx, tx, connID); err != nil {
		return 0, fmt.Errorf("upstream key row: %w", interpretError(err))
	}
	return b.insert(ctx, tx, connID)
}

// sync inserts a job bringing connID's key in line, when it has one.
func (b Backstop) sync(ctx context.Context, tx pgx.Tx, connID string) (int64, error) {
	if !b.on() {
		return 0, nil
	}
	has, err := queries.HasUpstreamKey(ctx, tx, connID)
	if err != nil {
		return 0, fmt.Errorf("upstream key: %w", interpretError(err))
	}
	if !has {
		return 0, nil
	}
	return b.insert(ctx, tx, connID)
}

// syncApp inserts a job for every key of appID's connections.
func (b Backstop) syncApp(ctx context.Context, tx pgx.Tx, appID string) ([]int64, error) {
	if !b.on() {
		return nil, nil
	}
	ids, err := queries.UpstreamKeysOfApp(ctx, tx, appID)
	if err != nil {
		return nil, fmt.Errorf("upstream keys of app: %w", interpretError(err))
	}
	var out []int64
	for _, id := range ids {
		jid, err := b.insert(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, jid)
	}
	return out, nil
}

// markupChange runs change, a write of markups in tx, and when it moved
// the smallest markup an OpenRouter model is sold at, which every key's
// limit is priced with (jobs.UpstreamLimit), inserts the job that patches
// every key's limit, in the same transaction.
func (b Backstop) markupChange(ctx context.Context, tx pgx.Tx, change func() error) error {
	if !b.on() {
		return change()
	}
	before, err := queries.UpstreamMinMarkup(ctx, tx)
	if err != nil {
		return fmt.Errorf("read markup: %w", interpretError(err))
	}
	if err := change(); err != nil {
		return err
	}
	after, err := queries.UpstreamMinMarkup(ctx, tx)
	if err != nil {
		return fmt.Errorf("read markup: %w", interpretError(err))
	}
	if after == before {
		return nil
	}
	if _, err := b.Jobs.InsertTx(ctx, tx, jobs.ResyncUpstreamKeys{}, &river.InsertOpts{MaxAttempts: 50}); err != nil {
		return fmt.Errorf("insert upstream key resync: %w", err)
	}
	return nil
}

func (b Backstop) insert(ctx context.Context, tx pgx.Tx, connID string) (int64, error) {
	res, err := b.Jobs.InsertTx(ctx, tx, jobs.SyncUpstreamKey{ConnectionID: connID}, &river.InsertOpts{MaxAttempts: 50})
	if err != nil {
		return 0, fmt.Errorf("insert upstream key job: %w", err)
	}
	return res.Job.ID, nil
}

// await waits, at most the lease wait, for the jobs ids (a revoke's or a
// suspension's key disabling) to finish, so that when the write returns
// OpenRouter refuses the keys too. A job still running then is logged, not
// returned: Wattfare's own engine has stopped spending, which is what the
// write promises; the job goes on retrying.
func (b Backstop) await(ctx context.Context, ids []int64) {
	if !b.on() || len(ids) == 0 {
		return
	}
	wait := b.LeaseWait
	if wait <= 0 {
		wait = 15 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, id := range ids {
		if id == 0 {
			continue
		}
		row, err := jobs.Await(wctx, b.Jobs, id)
		if err != nil || row.State != "completed" {
			state := ""
			if row != nil {
				state = string(row.State)
			}
			slog.Warn("upstream key not yet disabled when the write returned; its job retries", "job_id", id, "state", state, "err", err)
		}
	}
}
