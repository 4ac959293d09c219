package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnsureUsagePartitions creates usage_events' monthly partitions from this
// month through months ahead, those that are missing. Settlement creates a
// month's partition itself the first time it settles into it, inside its
// batch; creating them ahead of time (a daily job of the control plane)
// keeps that DDL, and its lock on the parent table, off the data plane's
// first batch of each month.
func EnsureUsagePartitions(ctx context.Context, pool *pgxpool.Pool, months int) error {
	_, err := pool.Exec(ctx, `SELECT wattfare_usage_partition(now() + make_interval(months => m)) FROM generate_series(0, $1::int) m`, months)
	if err != nil {
		return fmt.Errorf("create usage partitions: %w", interpretError(err))
	}
	return nil
}
