package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// BenchmarkAppUsageByDay answers "usage for an app by day over 30 days"
// with 1,000,000 usage events in the table (10 apps, 1,000 connections,
// 3 models, 60 days), from the daily rollups (what the dashboard does) and,
// as the reference, from the raw events. Run it with
//
//	go test -run '^$' -bench BenchmarkAppUsageByDay -benchtime 200x ./postgres/
//
// The data is generated once per run, before the timed sub-benchmarks.
func BenchmarkAppUsageByDay(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model,
			prompt_tokens, completion_tokens, cost, charged)
		 SELECT 'req_' || i,
		        timestamptz '2026-01-01 00:00:00+00' + (i % 60) * interval '1 day' + (i % 86400) * interval '1 second',
		        'app_' || (i / 60) % 10, 'test', 'conn_' || c, 'acct_' || c, 'user_' || c, 'key_' || (i / 60) % 10,
		        (ARRAY['sandbox/echo', 'sandbox/pricey', 'sandbox/embed'])[1 + (i / 7) % 3],
		        10 + i % 50, 20 + i % 100, 1000 + i % 997, 1000 + i % 997
		 FROM generate_series(0, 999999) AS i, LATERAL (SELECT ((i / 60) % 10) * 100 + (i / 600) % 100 AS c) AS conn`,
		`INSERT INTO usage_daily (day, app_id, mode, connection_id, account_id, model, requests, prompt_tokens, completion_tokens, cost)
		 SELECT (created_at AT TIME ZONE 'UTC')::date, app_id, mode, connection_id, min(account_id), model,
		        count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost)
		 FROM usage_events GROUP BY 1, app_id, mode, connection_id, model`,
		// What autovacuum does on a live system: statistics and the
		// visibility map that lets rollups be read from the index alone.
		`VACUUM ANALYZE usage_events`,
		`VACUUM ANALYZE usage_daily`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("setup: 1,000,000 events and their rollups in %s", time.Since(start).Round(time.Millisecond))

	usage := &postgres.Usage{DB: pool}
	from := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)

	fromRollups := func() []wattfare.UsageDay {
		days, err := usage.AppByDay(ctx, "app_3", wattfare.ModeTest, from, to)
		if err != nil {
			b.Fatal(err)
		}
		return days
	}
	fromEvents := func() []wattfare.UsageDay {
		rows, err := pool.Query(ctx, `
SELECT (created_at AT TIME ZONE 'UTC')::date, count(*), sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cost)::bigint
FROM usage_events WHERE app_id = $1 AND mode = $2 AND created_at >= $3 AND created_at < $4
GROUP BY 1 ORDER BY 1`, "app_3", "test", from, to)
		if err != nil {
			b.Fatal(err)
		}
		days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.UsageDay, error) {
			var u wattfare.UsageDay
			var d time.Time
			err := r.Scan(&d, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.Cost)
			u.Day = d.Format("2006-01-02")
			return u, err
		})
		if err != nil {
			b.Fatal(err)
		}
		return days
	}

	// Both ways must give the same answer before either is timed.
	got, want := fromRollups(), fromEvents()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 30 || got[0].Requests == 0 || got[29].Requests == 0 {
		b.Fatalf("rollups %v\nevents  %v", got, want)
	}

	b.Run("rollups", func(b *testing.B) {
		for b.Loop() {
			fromRollups()
		}
	})
	b.Run("raw_events", func(b *testing.B) {
		for b.Loop() {
			fromEvents()
		}
	})
}
