package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// EnsureUsagePartitions is the daily job that creates usage_events'
// partitions ahead of time (postgres.EnsureUsagePartitions).
type EnsureUsagePartitions struct{}

// Kind implements river.JobArgs.
func (EnsureUsagePartitions) Kind() string { return "usage.partitions" }

type partitionsWorker struct {
	river.WorkerDefaults[EnsureUsagePartitions]
	ensure func(ctx context.Context) error
}

func (w *partitionsWorker) Work(ctx context.Context, _ *river.Job[EnsureUsagePartitions]) error {
	return w.ensure(ctx)
}

// RegisterPartitions adds the partitions job, run by the leader once a day
// and at start; ensure creates what is missing.
func RegisterPartitions(r *Registry, ensure func(ctx context.Context) error) {
	Add(r, &partitionsWorker{ensure: ensure})
	r.Periodic(river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return EnsureUsagePartitions{}, nil },
		&river.PeriodicJobOpts{ID: "usage.partitions", RunOnStart: true}))
}
