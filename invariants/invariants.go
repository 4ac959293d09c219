// Package invariants checks DESIGN.md's spend invariants against the
// ledger's tables, and builds the fixtures (account, wallet, app, key,
// connection) that the spend tests need. Tests across several data-plane
// processes call Check after every step.
package invariants

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// check is one SQL query whose rows are violations, each described by its
// single text column.
type check struct {
	name string
	sql  string
}

var checks = []check{
	{"1: captured + held <= cap per connection and period", `
SELECT format('connection %s period %s: captured %s + held %s > cap %s', cp.connection_id, cp.period, cp.captured, cp.held, c.monthly_cap)
FROM connection_periods cp JOIN connections c ON c.id = cp.connection_id
WHERE cp.captured + cp.held > c.monthly_cap`},
	// credits is net of what refunds and lost disputes took back
	// (taken_back): only a take-back of money already spent may leave
	// credits - captured - held below zero.
	{"2: wallet credits - captured - held >= 0 except by refunds and disputes", `
SELECT format('wallet %s/%s: credits %s (+ taken back %s) - captured %s - held %s < 0', account_id, mode, credits, taken_back, captured, held)
FROM wallets WHERE credits + taken_back - captured - held < 0 OR captured < 0 OR held < 0 OR taken_back < 0`},
	{"2: a wallet's taken_back is exactly its refund and dispute debits", `
SELECT format('wallet %s/%s: taken_back %s but the ledger debits %s', w.account_id, w.mode, w.taken_back, coalesce(-l.s, 0))
FROM wallets w
LEFT JOIN (SELECT account_id, mode, sum(amount) AS s FROM wallet_ledger WHERE source IN ('refund', 'dispute') GROUP BY 1, 2) l
  ON l.account_id = w.account_id AND l.mode = w.mode
WHERE w.taken_back <> coalesce(-l.s, 0)`},
	{"2: a top-up is credited once, and never taken back beyond its amount", `
SELECT format('top-up %s of %s: %s credit entries for %s, taken back %s (ledger %s), credited_at %s',
              t.id, t.amount, coalesce(l.n, 0), coalesce(l.c, 0), t.taken_back, coalesce(-l.d, 0), t.credited_at)
FROM top_ups t
LEFT JOIN (SELECT top_up_id, count(*) FILTER (WHERE source = 'top_up') AS n, sum(amount) FILTER (WHERE source = 'top_up') AS c,
                  sum(amount) FILTER (WHERE source IN ('refund', 'dispute')) AS d
           FROM wallet_ledger WHERE top_up_id IS NOT NULL GROUP BY 1) l ON l.top_up_id = t.id
WHERE (t.credited_at IS NULL) <> (coalesce(l.n, 0) = 0) OR coalesce(l.n, 0) > 1
   OR (l.n = 1 AND l.c <> t.amount) OR t.taken_back > t.amount OR t.taken_back <> coalesce(-l.d, 0)`},
	{"3: a period's held is exactly its open leases", `
SELECT format('connection %s period %s: held %s but open leases hold %s', cp.connection_id, cp.period, cp.held, coalesce(l.s, 0))
FROM connection_periods cp
LEFT JOIN (SELECT connection_id, period, sum(amount) AS s FROM leases WHERE released_at IS NULL GROUP BY 1, 2) l
  ON l.connection_id = cp.connection_id AND l.period = cp.period
WHERE cp.held <> coalesce(l.s, 0)`},
	{"3: a wallet's held is exactly its open leases", `
SELECT format('wallet %s/%s: held %s but open leases hold %s', w.account_id, w.mode, w.held, coalesce(l.s, 0))
FROM wallets w
LEFT JOIN (SELECT account_id, mode, sum(amount) AS s FROM leases WHERE released_at IS NULL GROUP BY 1, 2) l
  ON l.account_id = w.account_id AND l.mode = w.mode
WHERE w.held <> coalesce(l.s, 0)`},
	{"3: a released lease holds nothing", `
SELECT format('lease %s released with amount %s', id, amount) FROM leases WHERE released_at IS NOT NULL AND amount <> 0`},
	{"5: a period's captured is exactly its usage events' charges", `
WITH e AS (
  SELECT connection_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS period, sum(charged) AS s, count(*) AS n
  FROM usage_events GROUP BY 1, 2)
SELECT format('connection %s period %s: captured %s, requests %s, but usage events charge %s in %s',
              coalesce(cp.connection_id, e.connection_id), coalesce(cp.period, e.period), cp.captured, cp.requests, e.s, e.n)
FROM connection_periods cp FULL JOIN e ON e.connection_id = cp.connection_id AND e.period = cp.period
WHERE coalesce(cp.captured, 0) <> coalesce(e.s, 0) OR coalesce(cp.requests, 0) <> coalesce(e.n, 0)`},
	{"5: a wallet's captured is exactly its usage events' charges", `
SELECT format('wallet %s/%s: captured %s but usage events charge %s', w.account_id, w.mode, w.captured, coalesce(e.s, 0))
FROM wallets w
LEFT JOIN (SELECT account_id, mode, sum(charged) AS s FROM usage_events GROUP BY 1, 2) e
  ON e.account_id = w.account_id AND e.mode = w.mode
WHERE w.captured <> coalesce(e.s, 0)`},
	{"5: daily rollups match usage events", `
WITH e AS (
  SELECT (created_at AT TIME ZONE 'UTC')::date AS day, app_id, mode, connection_id, model,
         count(*) AS n, sum(charged) AS s, sum(prompt_tokens) AS p, sum(completion_tokens) AS c
  FROM usage_events GROUP BY 1, 2, 3, 4, 5)
SELECT format('usage_daily %s %s %s: rollup %s requests / %s, events %s / %s',
              coalesce(d.day, e.day), coalesce(d.connection_id, e.connection_id), coalesce(d.model, e.model), d.requests, d.cost, e.n, e.s)
FROM usage_daily d FULL JOIN e USING (day, app_id, mode, connection_id, model)
WHERE coalesce(d.requests, 0) <> coalesce(e.n, 0) OR coalesce(d.cost, 0) <> coalesce(e.s, 0)
   OR coalesce(d.prompt_tokens, 0) <> coalesce(e.p, 0) OR coalesce(d.completion_tokens, 0) <> coalesce(e.c, 0)`},
	{"charged never exceeds cost", `
SELECT format('request %s: charged %s > cost %s', request_id, charged, cost) FROM usage_events WHERE charged > cost`},
}

// Check verifies the invariants that hold at every read: per connection and
// period captured + held <= cap (1); per wallet credits - captured - held >=
// 0 except by what refunds and disputes took back, each top-up credited
// once and taken back at most whole (2); every held amount is an open
// lease's and every released lease holds nothing (3); captured is exactly the sum of charged usage events, once per
// request (5). It reads in one repeatable-read transaction so that the
// tables are seen at one instant, and returns every violation found.
func Check(ctx context.Context, db *pgxpool.Pool) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return err
	}
	var bad []string
	for _, c := range checks {
		rows, err := tx.Query(ctx, c.sql)
		if err != nil {
			return fmt.Errorf("invariant %s: %w", c.name, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			if len(bad) < 20 {
				bad = append(bad, "invariant "+c.name+": "+s)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("invariant %s: %w", c.name, err)
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "\n"))
	}
	return nil
}

// CheckQuiet verifies, on top of Check, what holds once every data-plane
// process stopped or surrendered and expired leases were swept: no lease is
// open and nothing is held.
func CheckQuiet(ctx context.Context, db *pgxpool.Pool) error {
	if err := Check(ctx, db); err != nil {
		return err
	}
	var open int
	var held int64
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM leases WHERE released_at IS NULL),
		(SELECT coalesce(sum(held), 0) FROM connection_periods)`).Scan(&open, &held); err != nil {
		return err
	}
	if open != 0 || held != 0 {
		var which []string
		rows, err := db.Query(ctx, `SELECT id || ' of ' || process_id || ' (' || amount || ' pico, granted ' || granted_at || ', expires ' || expires_at || ')'
			FROM leases WHERE released_at IS NULL ORDER BY granted_at LIMIT 5`)
		if err == nil {
			for rows.Next() {
				var w string
				if rows.Scan(&w) == nil {
					which = append(which, w)
				}
			}
			rows.Close()
		}
		return fmt.Errorf("quiet: %d leases still open, %s still held; open: %s", open, wattfare.Money(held), strings.Join(which, "; "))
	}
	return nil
}
