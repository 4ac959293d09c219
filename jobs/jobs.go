// Package jobs runs Wattfare's durable jobs on river (riverqueue/river):
// work that must happen because of a committed change but outside the
// request that made it — provisioning an upstream key for an approved
// connection, delivering a webhook, a nightly reconciliation. A job is a row
// in river's table, inserted in the same transaction as the change that
// causes it (Inserter.InsertTx), so the change and its job commit or roll
// back together; river retries it with backoff until it succeeds or runs
// out of attempts.
//
// Other packages add their workers to a Registry; cmd/wattfare builds one
// Client from the pgx pool with it and runs it inside the control plane
// (`wattfare control`, `wattfare dev`). River's schema is migrated with ours
// by postgres.Migrate.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/wattfare/wattfare/internal/backoff"
)

// Queue is what code that causes jobs needs: InsertTx inserts a job in the
// caller's transaction (the job exists if and only if the transaction
// commits), JobGet reads one back by id. *Client satisfies it; so does any
// river.Client[pgx.Tx], an insert-only one included.
type Queue interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

var _ Queue = (*Client)(nil)

// Registry collects the workers and periodic jobs a Client runs. Each
// package that owns a kind of job adds its worker with Add before the
// client is built; a kind without a worker is never fetched.
type Registry struct {
	workers  *river.Workers
	periodic []*river.PeriodicJob
	kinds    []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{workers: river.NewWorkers()} }

// Add registers w for its job kind. Adding a kind twice panics: two packages
// would be claiming one kind of job.
func Add[T river.JobArgs](r *Registry, w river.Worker[T]) {
	river.AddWorker(r.workers, w)
	var zero T
	r.kinds = append(r.kinds, zero.Kind())
}

// Periodic registers a job river inserts on a schedule (river.PeriodicInterval
// or a cron-like river.PeriodicSchedule). Only the elected leader among the
// running clients inserts it, so several control-plane processes run it once.
func (r *Registry) Periodic(p *river.PeriodicJob) { r.periodic = append(r.periodic, p) }

// Kinds lists the job kinds registered, in order of registration.
func (r *Registry) Kinds() []string { return append([]string(nil), r.kinds...) }

// Options tune a Client; the zero value is what production runs.
type Options struct {
	// Logger receives river's own log lines (warnings and up by default).
	Logger *slog.Logger
	// MaxWorkers bounds the jobs one process works at once (default 10).
	MaxWorkers int
	// FetchPollInterval is how often the client looks for jobs when no
	// insert notification arrived (river's default, 1 s, when zero). A job
	// inserted by a committed transaction is normally fetched at once: river
	// notifies on insert.
	FetchPollInterval time.Duration
	// RetryPolicy spaces out a failing job's attempts; river's default
	// (attempt⁴ seconds, jittered) when nil. Tests use a short one.
	RetryPolicy river.ClientRetryPolicy
}

// Client inserts and works the jobs of one process. It embeds river's
// client, so Subscribe, JobGet, Insert and InsertTx are river's own.
type Client struct {
	*river.Client[pgx.Tx]
	kinds []string
}

// New builds a client on pool that works the jobs of r once started.
func New(pool *pgxpool.Pool, r *Registry, o Options) (*Client, error) {
	if r == nil {
		r = NewRegistry()
	}
	workers := o.MaxWorkers
	if workers <= 0 {
		workers = 10
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	cfg := &river.Config{
		Logger:            logger,
		PeriodicJobs:      r.periodic,
		FetchPollInterval: o.FetchPollInterval,
		RetryPolicy:       o.RetryPolicy,
		// A job's own timeout bounds one attempt; the work here is a few
		// HTTP calls, never minutes.
		JobTimeout: 2 * time.Minute,
		// A job whose process died while working it (a control plane
		// killed mid-delivery) is taken up again after this, not river's
		// default hour: longer than any attempt may run (JobTimeout).
		RescueStuckJobsAfter: 5 * time.Minute,
	}
	if len(r.kinds) > 0 {
		cfg.Workers = r.workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &Client{Client: c, kinds: r.Kinds()}, nil
}

// Run starts the client, works jobs until ctx ends, then stops it: jobs in
// progress get up to 10 s to finish, then are cancelled (and retried by
// another process, or by this one when it comes back). A client with no
// workers only inserts, and Run just waits.
func (c *Client) Run(ctx context.Context) error {
	if len(c.kinds) == 0 {
		<-ctx.Done()
		return nil
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stop jobs: %w", err)
	}
	if sctx.Err() != nil {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer hcancel()
		return c.StopAndCancel(hctx)
	}
	return nil
}

// Finalized reports whether a job's state is final: it ran to completion,
// was cancelled, or was discarded after its last attempt.
func Finalized(s rivertype.JobState) bool {
	switch s {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	}
	return false
}

// Await waits until job id is finalized and returns its row, or ctx's
// error when ctx ends first (the last row read alongside, if any). It reads
// the job's row with backoff, so it works across processes: the job may be
// worked by another control-plane process.
func Await(ctx context.Context, q Queue, id int64) (*rivertype.JobRow, error) {
	b := backoff.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond}
	var last *rivertype.JobRow
	for {
		row, err := q.JobGet(ctx, id)
		if err == nil {
			last = row
			if Finalized(row.State) {
				return row, nil
			}
		} else if ctx.Err() == nil && !errors.Is(err, rivertype.ErrNotFound) {
			return last, fmt.Errorf("read job %d: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(b.Next()):
		}
	}
}
