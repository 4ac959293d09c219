package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestUsagePartitionsAhead: the partitions of usage_events for this month
// and the next three exist once the job ran, and running it again changes
// nothing.
func TestUsagePartitionsAhead(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	for range 2 {
		if err := postgres.EnsureUsagePartitions(ctx, pool, 3); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	if err := pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	first := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	for m := 0; m <= 3; m++ {
		name := fmt.Sprintf("usage_events_%s", first.AddDate(0, m, 0).Format("2006_01"))
		var parent string
		err := pool.QueryRow(ctx, `SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = to_regclass($1)`, name).Scan(&parent)
		if err != nil || parent != "usage_events" {
			t.Errorf("partition %s: parent %q, %v", name, parent, err)
		}
	}
}
