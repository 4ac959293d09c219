package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
)

// jobSetup adds the workers (and periodic jobs) of one area to the registry
// of the control plane's jobs client. Each file of cmd/wattfare that owns a
// kind of job appends one in its init; a setup that is not configured (no
// OpenRouter management key, no Stripe key) adds nothing.
type jobSetup func(ctx context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error

var jobSetups []jobSetup

// newJobs builds the jobs client of a control-plane process: every setup's
// workers, on pool. Its Run works them until the process stops.
func newJobs(ctx context.Context, pool *pgxpool.Pool) (*jobs.Client, error) {
	reg := jobs.NewRegistry()
	for _, setup := range jobSetups {
		if err := setup(ctx, pool, reg); err != nil {
			return nil, err
		}
	}
	c, err := jobs.New(pool, reg, jobs.Options{Logger: slog.Default()})
	if err != nil {
		return nil, err
	}
	if kinds := reg.Kinds(); len(kinds) > 0 {
		slog.Info("durable jobs", "kinds", kinds)
	}
	return c, nil
}

func init() {
	// usage_events' monthly partitions, three months ahead.
	jobSetups = append(jobSetups, func(_ context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error {
		jobs.RegisterPartitions(reg, func(ctx context.Context) error { return postgres.EnsureUsagePartitions(ctx, pool, 3) })
		return nil
	})
}
