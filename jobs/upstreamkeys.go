package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/openrouter"
)

// The upstream backstop (DESIGN.md "The upstream backstop"): every live
// connection gets its own OpenRouter key whose limit is the connection's
// monthly cap at upstream cost, so that a defect in Wattfare's own engine
// cannot spend past the cap by more than OpenRouter's own enforcement lets
// through. Three kinds of job keep OpenRouter in line with Postgres:
//
//   - SyncUpstreamKey, inserted in the transaction of every change that
//     matters (approval, cap change, revoke, app suspension and its end),
//     makes the key what the connection is: created when missing, its limit
//     patched, disabled while the connection cannot spend. It reads the
//     state when it runs, so jobs may run late, twice or out of order.
//   - DeleteUpstreamKey, scheduled by a sync that disabled a key, deletes it
//     later if the connection is still stopped.
//   - ReconcileUpstreamKeys, nightly, compares what each key spent this
//     month on OpenRouter with what Wattfare metered, and re-syncs each key.
//   - ResyncUpstreamKeys, inserted in the transaction of a markup change
//     that moves the smallest markup (every key's limit is the cap over
//     1 + that markup), inserts a SyncUpstreamKey for every provisioned key,
//     so their limits are patched at once rather than by the next nightly
//     reconciliation.

// SyncUpstreamKey brings one connection's OpenRouter key in line.
type SyncUpstreamKey struct {
	ConnectionID string `json:"connection_id"`
}

func (SyncUpstreamKey) Kind() string { return "upstream_key.sync" }

// DeleteUpstreamKey deletes a disabled key whose connection is still
// stopped.
type DeleteUpstreamKey struct {
	ConnectionID string `json:"connection_id"`
}

func (DeleteUpstreamKey) Kind() string { return "upstream_key.delete" }

// ReconcileUpstreamKeys checks every key's usage against Wattfare's meter.
type ReconcileUpstreamKeys struct{}

func (ReconcileUpstreamKeys) Kind() string { return "upstream_key.reconcile" }

// ResyncUpstreamKeys re-syncs every provisioned key: their limits follow a
// change of the smallest markup.
type ResyncUpstreamKeys struct{}

func (ResyncUpstreamKeys) Kind() string { return "upstream_key.resync" }

// UpstreamKeyState is a connection's key and what it must reflect, read
// under a lock that the store holds until the sync's change is saved.
type UpstreamKeyState struct {
	ConnectionID string
	Mode         wattfare.Mode
	// Stopped: the connection is revoked or its app suspended.
	Stopped    bool
	MonthlyCap wattfare.Money
	// MinMarkupBps is the smallest markup an OpenRouter model is sold at.
	MinMarkupBps int
	Hash         string // "" until provisioned
	Limit        *wattfare.Money
	Disabled     bool
	Deleted      bool
}

// Provisioned reports whether OpenRouter holds a key for the connection.
func (s UpstreamKeyState) Provisioned() bool { return s.Hash != "" && !s.Deleted }

// UpstreamKeyChange is what a sync made OpenRouter hold, for the store to
// save with the lock still held.
type UpstreamKeyChange struct {
	Created  bool   // a new key: Hash and Sealed are set
	Hash     string // the new key's hash
	Sealed   []byte // the new key's secret, sealed for the connection
	Limit    wattfare.Money
	Disabled bool
	Deleted  bool
	None     bool // nothing changed
}

// UpstreamKeyStore is the backstop's Postgres side (postgres.UpstreamKeys).
type UpstreamKeyStore interface {
	// Sync locks the connection's key row, calls f with its state and saves
	// the change f returns, in one transaction; a new or re-enabled key, or
	// a disabled one, notifies the data planes. When f fails nothing is
	// saved but the failure (attempts, last error). A connection without a
	// key row (never live, or the backstop off when it was approved) is
	// skipped: f is not called.
	Sync(ctx context.Context, connID string, f func(ctx context.Context, st UpstreamKeyState) (UpstreamKeyChange, error)) error
	// KeysToCheck lists the connections whose key is provisioned, with its hash.
	KeysToCheck(ctx context.Context) (map[string]string, error)
	// MeteredCost is what Wattfare metered at upstream cost for the
	// connection's OpenRouter requests in [from, to).
	MeteredCost(ctx context.Context, connID string, from, to time.Time) (wattfare.Money, error)
	// RecordCheck stores one reconciliation result.
	RecordCheck(ctx context.Context, c UpstreamKeyCheck) error
}

// UpstreamKeyCheck is one reconciliation of a key against Wattfare's meter.
type UpstreamKeyCheck struct {
	ConnectionID string
	Hash         string
	Period       time.Time
	Ours         wattfare.Money // metered by Wattfare, at upstream cost
	Upstream     wattfare.Money // the key's usage_monthly on OpenRouter
	Limit        *wattfare.Money
	Disabled     bool
}

// UpstreamKeys works the backstop's jobs.
type UpstreamKeys struct {
	Store UpstreamKeyStore
	// OpenRouter manages the keys with WATTFARE_OPENROUTER_MANAGEMENT_KEY.
	OpenRouter *openrouter.Keys
	// Ring seals each new key's secret (WATTFARE_ENCRYPTION_KEY) for the
	// connection it belongs to.
	Ring *keyring.Keyring
	// DeleteAfter is how long a disabled key is kept before it is deleted
	// (default 24 h): a user who revoked by mistake and approves again gets
	// the same key back, and the nightly reconciliation reads its last
	// usage first.
	DeleteAfter time.Duration
	// ReconcileEvery is how often the reconciliation runs (default 24 h).
	ReconcileEvery time.Duration
	// RetryBase is the wait after a sync's first failed attempt (default
	// 1 s), doubled each attempt up to 10 minutes.
	RetryBase time.Duration
	Logger    *slog.Logger
}

// Register adds the backstop's workers and its nightly reconciliation.
func (u *UpstreamKeys) Register(r *Registry) {
	Add(r, &syncWorker{u: u})
	Add(r, &deleteWorker{u: u})
	Add(r, &reconcileWorker{u: u})
	Add(r, &resyncWorker{u: u})
	every := u.ReconcileEvery
	if every <= 0 {
		every = 24 * time.Hour
	}
	r.Periodic(river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return ReconcileUpstreamKeys{}, nil },
		&river.PeriodicJobOpts{ID: "upstream_key.reconcile"}))
}

func (u *UpstreamKeys) log() *slog.Logger {
	if u.Logger != nil {
		return u.Logger
	}
	return slog.Default()
}

// UpstreamLimit is the key limit for a monthly cap: the cap at upstream
// cost. Wattfare charges an OpenRouter model's cost × (1 + markup), so
// spending the whole cap costs at most cap / (1 + the smallest markup)
// upstream; a limit there is reached only once Wattfare's own engine has
// let more than the cap through. Rounded up to the nano-dollar, never down.
func UpstreamLimit(cap wattfare.Money, minMarkupBps int) wattfare.Money {
	if minMarkupBps <= 0 || cap <= 0 {
		return cap
	}
	d := int64(10_000 + minMarkupBps)
	q, r := int64(cap)/d, int64(cap)%d
	// cap × 10,000 / d without overflow: q·10,000 + r·10,000/d, rounded up.
	out := q*10_000 + (r*10_000+d-1)/d
	return wattfare.Money(out)
}

// errStopped is what a sync reports when the connection stopped while it
// worked: nothing to do.
var errStopped = errors.New("connection stopped")

type syncWorker struct {
	river.WorkerDefaults[SyncUpstreamKey]
	u *UpstreamKeys
}

// Timeout bounds one attempt: the revoke that waits for it waits at most
// its lease wait anyway.
func (w *syncWorker) Timeout(*river.Job[SyncUpstreamKey]) time.Duration { return 30 * time.Second }

// NextRetry spaces attempts from RetryBase doubling to 10 minutes, so a
// connection approved while OpenRouter was down gets its key soon after it
// is back (river's default, attempt⁴ s, waits hours by the tenth).
func (w *syncWorker) NextRetry(j *river.Job[SyncUpstreamKey]) time.Time {
	base := w.u.RetryBase
	if base <= 0 {
		base = time.Second
	}
	d := base << min(max(j.Attempt-1, 0), 10)
	return time.Now().Add(min(d, 10*time.Minute))
}

func (w *syncWorker) Work(ctx context.Context, j *river.Job[SyncUpstreamKey]) error {
	u := w.u
	var scheduleDelete bool
	err := u.Store.Sync(ctx, j.Args.ConnectionID, func(ctx context.Context, st UpstreamKeyState) (UpstreamKeyChange, error) {
		if st.Mode != wattfare.ModeLive {
			return UpstreamKeyChange{None: true}, nil
		}
		limit := UpstreamLimit(st.MonthlyCap, st.MinMarkupBps)
		switch {
		case st.Stopped && !st.Provisioned():
			return UpstreamKeyChange{None: true}, nil
		case st.Stopped:
			if !st.Disabled {
				yes := true
				if _, err := u.OpenRouter.Update(ctx, st.Hash, openrouter.KeyUpdate{Disabled: &yes}); err != nil && !openrouter.NotFound(err) {
					return UpstreamKeyChange{}, fmt.Errorf("disable key: %w", err)
				}
			}
			scheduleDelete = true
			return UpstreamKeyChange{Limit: deref(st.Limit), Disabled: true, None: st.Disabled}, nil
		case !st.Provisioned():
			created, err := u.OpenRouter.Create(ctx, openrouter.NewKey{
				Name: st.ConnectionID, Limit: limit, LimitReset: openrouter.ResetMonthly, IncludeBYOKInLimit: true,
			})
			if err != nil {
				return UpstreamKeyChange{}, fmt.Errorf("create key: %w", err)
			}
			sealed, err := u.Ring.Seal([]byte(created.Secret), []byte(st.ConnectionID))
			if err != nil {
				u.deleteOrphan(ctx, created.Hash)
				return UpstreamKeyChange{}, err
			}
			return UpstreamKeyChange{Created: true, Hash: created.Hash, Sealed: sealed, Limit: limit}, nil
		case st.Disabled || st.Limit == nil || *st.Limit != limit:
			no := false
			upd := openrouter.KeyUpdate{Limit: &limit}
			if st.Disabled {
				upd.Disabled = &no
			}
			if _, err := u.OpenRouter.Update(ctx, st.Hash, upd); err != nil {
				if openrouter.NotFound(err) { // deleted behind our back: make a new one next time
					return UpstreamKeyChange{Deleted: true}, nil
				}
				return UpstreamKeyChange{}, fmt.Errorf("patch key: %w", err)
			}
			return UpstreamKeyChange{Limit: limit}, nil
		}
		return UpstreamKeyChange{None: true}, nil
	})
	if err != nil {
		u.log().Warn("upstream key sync failed; it will be retried", "connection_id", j.Args.ConnectionID, "attempt", j.Attempt, "err", err)
		return err
	}
	if scheduleDelete {
		after := u.DeleteAfter
		if after <= 0 {
			after = 24 * time.Hour
		}
		c, cerr := river.ClientFromContextSafely[pgx.Tx](ctx)
		if cerr != nil {
			return cerr
		}
		if _, err := c.Insert(ctx, DeleteUpstreamKey{ConnectionID: j.Args.ConnectionID}, &river.InsertOpts{
			ScheduledAt: time.Now().Add(after),
			UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: deleteUniqueStates},
		}); err != nil {
			return fmt.Errorf("schedule key deletion: %w", err)
		}
	}
	return nil
}

// deleteUniqueStates: one pending deletion per connection at a time.
var deleteUniqueStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// deleteOrphan deletes a key just created that could not be kept.
func (u *UpstreamKeys) deleteOrphan(ctx context.Context, hash string) {
	if err := u.OpenRouter.Delete(context.WithoutCancel(ctx), hash); err != nil {
		u.log().Error("alarm: an OpenRouter key Wattfare could not keep was not deleted; delete it by hand", "hash", hash, "err", err)
	}
}

func deref(m *wattfare.Money) wattfare.Money {
	if m == nil {
		return 0
	}
	return *m
}

type deleteWorker struct {
	river.WorkerDefaults[DeleteUpstreamKey]
	u *UpstreamKeys
}

func (w *deleteWorker) Work(ctx context.Context, j *river.Job[DeleteUpstreamKey]) error {
	u := w.u
	return u.Store.Sync(ctx, j.Args.ConnectionID, func(ctx context.Context, st UpstreamKeyState) (UpstreamKeyChange, error) {
		if !st.Stopped || !st.Provisioned() {
			return UpstreamKeyChange{None: true}, nil // approved again meanwhile, or already gone
		}
		// Its last usage first, so the month's reconciliation still has it.
		if k, err := u.OpenRouter.Get(ctx, st.Hash); err == nil {
			u.record(ctx, st, k)
		}
		if err := u.OpenRouter.Delete(ctx, st.Hash); err != nil {
			return UpstreamKeyChange{}, fmt.Errorf("delete key: %w", err)
		}
		return UpstreamKeyChange{Deleted: true, Disabled: true}, nil
	})
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileUpstreamKeys]
	u *UpstreamKeys
}

func (w *reconcileWorker) Timeout(*river.Job[ReconcileUpstreamKeys]) time.Duration { return time.Hour }

func (w *reconcileWorker) Work(ctx context.Context, j *river.Job[ReconcileUpstreamKeys]) error {
	u := w.u
	keys, err := u.Store.KeysToCheck(ctx)
	if err != nil {
		return err
	}
	c, cerr := river.ClientFromContextSafely[pgx.Tx](ctx)
	var failed int
	for connID, hash := range keys {
		k, err := u.OpenRouter.Get(ctx, hash)
		if err != nil {
			failed++
			u.log().Warn("reconcile upstream key", "connection_id", connID, "err", err)
			continue
		}
		u.record(ctx, UpstreamKeyState{ConnectionID: connID, Hash: hash}, k)
		// And bring its limit in line with today's cap and markups.
		if cerr == nil {
			if _, err := c.Insert(ctx, SyncUpstreamKey{ConnectionID: connID}, nil); err != nil {
				failed++
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("reconcile: %d of %d keys not checked", failed, len(keys))
	}
	return nil
}

type resyncWorker struct {
	river.WorkerDefaults[ResyncUpstreamKeys]
	u *UpstreamKeys
}

// Work inserts one sync per provisioned key, in batches of 500; a retry
// after a failure inserts them again, which is harmless: a sync reads the
// state when it runs.
func (w *resyncWorker) Work(ctx context.Context, j *river.Job[ResyncUpstreamKeys]) error {
	keys, err := w.u.Store.KeysToCheck(ctx)
	if err != nil {
		return err
	}
	c, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	batch := make([]river.InsertManyParams, 0, min(len(keys), 500))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := c.InsertMany(ctx, batch); err != nil {
			return fmt.Errorf("insert key syncs: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for connID := range keys {
		batch = append(batch, river.InsertManyParams{Args: SyncUpstreamKey{ConnectionID: connID}, InsertOpts: &river.InsertOpts{MaxAttempts: 50}})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	w.u.log().Info("upstream key limits re-synced after a markup change", "keys", len(keys))
	return nil
}

// record stores a key's usage this month against Wattfare's meter, and
// raises the alarm on drift: a key that spent more upstream than Wattfare
// metered means requests went out that Wattfare did not charge for.
func (u *UpstreamKeys) record(ctx context.Context, st UpstreamKeyState, k openrouter.Key) {
	now := time.Now().UTC()
	from := wattfare.PeriodStart(now)
	ours, err := u.Store.MeteredCost(ctx, st.ConnectionID, from, wattfare.PeriodEnd(now))
	if err != nil {
		u.log().Warn("reconcile upstream key: metered cost", "connection_id", st.ConnectionID, "err", err)
		return
	}
	var limit *wattfare.Money
	if l, ok := k.LimitUSD(); ok {
		limit = &l
	}
	chk := UpstreamKeyCheck{ConnectionID: st.ConnectionID, Hash: st.Hash, Period: from, Ours: ours,
		Upstream: k.UsageMonthly.Money, Limit: limit, Disabled: k.Disabled}
	if err := u.Store.RecordCheck(ctx, chk); err != nil {
		u.log().Warn("reconcile upstream key: record", "connection_id", st.ConnectionID, "err", err)
	}
	if chk.Upstream > chk.Ours {
		u.log().Error("alarm: an OpenRouter key spent more than Wattfare metered", "connection_id", st.ConnectionID,
			"upstream_usd", chk.Upstream.String(), "metered_usd", chk.Ours.String())
	}
}
