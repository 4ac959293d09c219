package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// settlePair is two databases with the same accounts, connections and
// leases, settled with the same batches: fast commits through
// wattfare_settle_grouped as the data plane does, and counts the calls of
// the general wattfare_settle (its fallback); ref's wattfare_settle_grouped
// always goes straight to wattfare_settle, so ref shows what the general
// statement alone makes of each batch.
type settlePair struct {
	t         *testing.T
	ctx       context.Context
	fast, ref *pgxpool.Pool
	lf, lr    *postgres.Ledger
}

func newSettlePair(t *testing.T) *settlePair {
	ctx := context.Background()
	p := &settlePair{t: t, ctx: ctx, fast: pgtest.NewPool(t), ref: pgtest.NewPool(t)}
	p.lf, p.lr = postgres.NewLedger(p.fast), postgres.NewLedger(p.ref)
	var args string
	if err := p.fast.QueryRow(ctx, `SELECT pg_get_function_arguments('wattfare_settle'::regproc)`).Scan(&args); err != nil {
		t.Fatal(err)
	}
	positional := func(n int) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if i > 1 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", i)
		}
		return b.String()
	}
	p.exec(p.fast, `ALTER FUNCTION wattfare_settle RENAME TO wattfare_settle_general`)
	p.exec(p.fast, `CREATE TABLE test_general_calls (n integer NOT NULL); INSERT INTO test_general_calls VALUES (0)`)
	p.exec(p.fast, `CREATE FUNCTION wattfare_settle(`+args+`) RETURNS TABLE (o_inserted integer, o_charged bigint)
LANGUAGE plpgsql AS $$ BEGIN
    UPDATE test_general_calls SET n = n + 1;
    RETURN QUERY SELECT * FROM wattfare_settle_general(`+positional(23)+`);
END $$`)
	if err := p.ref.QueryRow(ctx, `SELECT pg_get_function_arguments('wattfare_settle_grouped'::regproc)`).Scan(&args); err != nil {
		t.Fatal(err)
	}
	p.exec(p.ref, `CREATE OR REPLACE FUNCTION wattfare_settle_grouped(`+args+`) RETURNS TABLE (o_inserted integer, o_charged bigint)
LANGUAGE plpgsql AS $$ BEGIN
    RETURN QUERY SELECT * FROM wattfare_settle(`+positional(23)+`);
END $$`)
	return p
}

// exec runs sql on db, or on both databases when db is nil.
func (p *settlePair) exec(db *pgxpool.Pool, sql string, args ...any) {
	p.t.Helper()
	for _, d := range []*pgxpool.Pool{p.fast, p.ref} {
		if db != nil && d != db {
			continue
		}
		if _, err := d.Exec(p.ctx, sql, args...); err != nil {
			p.t.Fatalf("%s: %v", sql, err)
		}
	}
}

func (p *settlePair) generalCalls() int {
	p.t.Helper()
	var n int
	if err := p.fast.QueryRow(p.ctx, `SELECT n FROM test_general_calls`).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// grant grants the same lease in both databases and checks it got amount.
func (p *settlePair) grant(id, conn string, period time.Time, amount wattfare.Money) {
	p.t.Helper()
	r := wattfare.LeaseRequest{LeaseID: id, ProcessID: "proc_test", ConnectionID: conn, Period: period,
		Amount: amount, Need: amount, TTL: time.Hour}
	for _, l := range []*postgres.Ledger{p.lf, p.lr} {
		g, err := l.GrantLease(p.ctx, r)
		if err != nil || g.Granted != amount {
			p.t.Fatalf("grant %s: %+v, %v", id, g, err)
		}
	}
}

// commit commits the batch in both databases, checks whether the fast
// database fell back to the general statement, and that both databases
// then hold the same rows and balances.
func (p *settlePair) commit(name string, ss []wattfare.Settlement, releases []string, wantGeneral bool) {
	p.t.Helper()
	before := p.generalCalls()
	if err := p.lf.Commit(p.ctx, ss, releases); err != nil {
		p.t.Fatalf("%s: commit (fast): %v", name, err)
	}
	if err := p.lr.Commit(p.ctx, ss, releases); err != nil {
		p.t.Fatalf("%s: commit (general): %v", name, err)
	}
	if general := p.generalCalls() > before; general != wantGeneral {
		p.t.Errorf("%s: went to the general statement: %v, want %v", name, general, wantGeneral)
	}
	f, r := p.dump(p.fast), p.dump(p.ref)
	for i := range f {
		if f[i] != r[i] {
			p.t.Errorf("%s: fast path and general statement differ:\n--- fast\n%s\n--- general\n%s", name, f[i], r[i])
		}
	}
}

// dump is every row and balance settlement writes, one string per table.
func (p *settlePair) dump(db *pgxpool.Pool) []string {
	p.t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model,
		        upstream, upstream_id, endpoint, stream, status, prompt_tokens, completion_tokens, cached_tokens,
		        reasoning_tokens, cost, charged, duration_ms, tableoid::regclass::text
		 FROM usage_events ORDER BY request_id, created_at`,
		`SELECT connection_id, period, captured, held, requests FROM connection_periods ORDER BY 1, 2`,
		`SELECT account_id, mode, credits, captured, held FROM wallets ORDER BY 1, 2`,
		`SELECT id, connection_id, account_id, mode, period, amount, released_at IS NULL FROM leases ORDER BY id`,
		`SELECT day, app_id, mode, connection_id, account_id, model, requests, prompt_tokens, completion_tokens, cost
		 FROM usage_daily ORDER BY app_id, mode, day, connection_id, model`,
	} {
		rows, err := db.Query(p.ctx, q)
		if err != nil {
			p.t.Fatal(err)
		}
		var b strings.Builder
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				p.t.Fatal(err)
			}
			for i := range v {
				if tm, ok := v[i].(time.Time); ok {
					v[i] = tm.UTC().Format(time.RFC3339Nano)
				}
			}
			fmt.Fprintln(&b, v...)
		}
		if err := rows.Err(); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, b.String())
	}
	return out
}

// int64s reads one row of integers from the fast database.
func (p *settlePair) int64s(sql string, args ...any) []int64 {
	p.t.Helper()
	rows, err := p.fast.Query(p.ctx, sql, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		p.t.Fatalf("no row: %s %v", sql, args)
	}
	v, err := rows.Values()
	if err != nil {
		p.t.Fatal(err)
	}
	out := make([]int64, len(v))
	for i := range v {
		switch x := v[i].(type) {
		case int64:
			out[i] = x
		case int32:
			out[i] = int64(x)
		case bool:
			if x {
				out[i] = 1
			}
		default:
			p.t.Fatalf("%s: column %d is %T", sql, i, v[i])
		}
	}
	return out
}

func (p *settlePair) want(what string, got []int64, want ...int64) {
	p.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		p.t.Errorf("%s: %v, want %v", what, got, want)
	}
}

type settleConn struct{ id, account, app string }

// TestSettleFastPathMatchesGeneral commits batches that take
// wattfare_settle_grouped's fast path and batches that must not, and checks
// after each that the rows and balances are exactly what the general
// wattfare_settle makes of the same batches.
func TestSettleFastPathMatchesGeneral(t *testing.T) {
	t.Parallel()
	p := newSettlePair(t)
	c1 := settleConn{"conn_settle_1", "acct_settle_1", "app_settle_1"}
	c2 := settleConn{"conn_settle_2", "acct_settle_2", "app_settle_1"}
	for _, c := range []settleConn{c1, c2} {
		p.exec(nil, `INSERT INTO accounts (id, email, password_hash) VALUES ($1, $1 || '@example.com', 'x')`, c.account)
		p.exec(nil, `INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'test', 10000000)`, c.account)
	}
	p.exec(nil, `INSERT INTO apps (id, owner_id, name) VALUES ($1, $2, 'Settle App')`, c1.app, c1.account)
	p.exec(nil, `INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap)
	             VALUES ($1, $2, 'test', 'user_1', $3, 1000000)`, c1.id, c1.app, c1.account)
	p.exec(nil, `INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap)
	             VALUES ($1, $2, 'test', 'user_2', $3, 500000)`, c2.id, c2.app, c2.account)

	march := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	feb2032 := time.Date(2032, 2, 1, 0, 0, 0, 0, time.UTC) // no partition yet
	p.grant("lease_1", c1.id, march, 100_000)
	p.grant("lease_2", c1.id, march, 50_000)
	p.grant("lease_3", c2.id, march, 80_000)
	p.grant("lease_4", c1.id, feb2032, 10_000)

	at := func(base time.Time, d time.Duration) time.Time { return base.Add(d).In(time.FixedZone("x", -5*3600)) }
	st := func(id string, t time.Time, lease string, c settleConn, fromLease, cost wattfare.Money, model string) wattfare.Settlement {
		return wattfare.Settlement{RequestID: id, At: t, LeaseID: lease, FromLease: fromLease, ConnectionID: c.id,
			AccountID: c.account, AppID: c.app, AppUserID: "user", KeyID: "key_1", Mode: wattfare.ModeTest,
			Usage: wattfare.Usage{Model: model, Upstream: "sandbox", UpstreamID: "gen_" + id, Stream: true,
				PromptTokens: int64(len(id)), CompletionTokens: int64(cost) / 100, CachedTokens: 1, ReasoningTokens: 2,
				Cost: cost, Duration: 7 * time.Millisecond}}
	}

	// Leases, periods, days (UTC: 23:30 the day before in the fixed zone),
	// models and connections mixed, in no order.
	batch1 := []wattfare.Settlement{
		st("req_05", at(march, 36*time.Hour), "lease_1", c1, 10_000, 9_000, "m/a"),
		st("req_01", at(march, 47*time.Hour), "lease_1", c1, 10_000, 10_000, "m/b"),
		st("req_03", at(march, 49*time.Hour), "lease_2", c1, 5_000, 0, "m/a"),
		st("req_02", at(march, 23*time.Hour+30*time.Minute), "lease_1", c1, 10_000, 1, "m/a"),
		st("req_04", at(march, 49*time.Hour), "lease_3", c2, 30_000, 25_000, "m/a"),
		st("req_06", at(march, 50*time.Hour), "lease_3", c2, 30_000, 30_000, "m/a"),
		st("req_07", at(feb2032, time.Hour), "lease_4", c1, 10_000, 4_000, "m/a"),
		st("req_08", at(march, 36*time.Hour), "lease_2", c1, 5_000, 4_999, "m/b"),
	}
	p.commit("fast path", batch1, nil, false)
	p.want("usage events", p.int64s(`SELECT count(*), count(*) FILTER (WHERE charged = cost), sum(charged)::bigint FROM usage_events`),
		8, 8, 9_000+10_000+0+1+25_000+30_000+4_000+4_999)
	p.want("period c1 march", p.int64s(`SELECT captured, held, requests FROM connection_periods WHERE connection_id = $1 AND period = $2`, c1.id, march),
		24_000, 150_000-24_000, 5)
	p.want("period c2 march", p.int64s(`SELECT captured, held, requests FROM connection_periods WHERE connection_id = $1 AND period = $2`, c2.id, march),
		55_000, 80_000-55_000, 2)
	p.want("period c1 feb 2032", p.int64s(`SELECT captured, held, requests FROM connection_periods WHERE connection_id = $1 AND period = $2`, c1.id, feb2032),
		4_000, 6_000, 1)
	p.want("wallet 1", p.int64s(`SELECT captured, held FROM wallets WHERE account_id = $1`, c1.account), 28_000, 160_000-28_000)
	p.want("wallet 2", p.int64s(`SELECT captured, held FROM wallets WHERE account_id = $1`, c2.account), 55_000, 25_000)
	p.want("leases", p.int64s(`SELECT (SELECT amount FROM leases WHERE id = 'lease_1'), (SELECT amount FROM leases WHERE id = 'lease_2'),
		(SELECT amount FROM leases WHERE id = 'lease_3'), (SELECT amount FROM leases WHERE id = 'lease_4')`),
		100_000-19_001, 50_000-4_999, 80_000-55_000, 6_000)
	p.want("usage_daily c1 2030-03-02 m/a", p.int64s(`SELECT requests, prompt_tokens, completion_tokens, cost FROM usage_daily
		WHERE connection_id = $1 AND day = '2030-03-02' AND model = 'm/a'`, c1.id), 1, 6, 90, 9_000)
	p.want("usage_daily rows", p.int64s(`SELECT count(*), sum(requests)::bigint, sum(cost)::bigint FROM usage_daily`), 6, 8, 83_000)
	p.want("partition", p.int64s(`SELECT count(*) FROM usage_events_2032_02`), 1)

	state := p.dump(p.fast)
	p.commit("replay", batch1, nil, true)
	if fmt.Sprint(p.dump(p.fast)) != fmt.Sprint(state) {
		t.Errorf("replay changed the ledger")
	}
	p.commit("replay of part, with new settlements", []wattfare.Settlement{
		st("req_10", at(march, 60*time.Hour), "lease_1", c1, 1_000, 1_000, "m/a"),
		batch1[1],
	}, nil, true)

	p.commit("duplicate in the batch", []wattfare.Settlement{
		st("req_11", at(march, 61*time.Hour), "lease_1", c1, 1_000, 700, "m/a"),
		st("req_12", at(march, 61*time.Hour), "lease_1", c1, 1_000, 800, "m/a"),
		st("req_11", at(march, 61*time.Hour), "lease_1", c1, 1_000, 700, "m/a"),
	}, nil, true)
	p.want("duplicate settled once", p.int64s(`SELECT count(*), sum(charged)::bigint FROM usage_events WHERE request_id = 'req_11'`), 1, 700)

	p.commit("fast path with a release", []wattfare.Settlement{
		st("req_13", at(march, 62*time.Hour), "lease_2", c1, 100, 100, "m/c"),
		st("req_14", at(march, 62*time.Hour), "lease_3", c2, 100, 90, "m/c"),
	}, []string{"lease_2", "lease_3"}, false)
	p.want("released", p.int64s(`SELECT count(*), sum(amount)::bigint FROM leases WHERE released_at IS NOT NULL`), 2, 0)

	p.commit("released lease", []wattfare.Settlement{
		st("req_15", at(march, 63*time.Hour), "lease_2", c1, 2_000, 1_500, "m/a"),
		st("req_16", at(march, 63*time.Hour), "lease_1", c1, 2_000, 1_500, "m/a"),
	}, nil, true)
	p.want("released lease: charged from the room", p.int64s(`SELECT charged FROM usage_events WHERE request_id = 'req_15'`), 1_500)

	p.commit("cost beyond from_lease", []wattfare.Settlement{
		st("req_17", at(march, 64*time.Hour), "lease_1", c1, 100, 300, "m/a"),
	}, nil, true)
	p.commit("no lease", []wattfare.Settlement{
		st("req_18", at(march, 64*time.Hour), "", c1, 0, 300, "m/a"),
	}, nil, true)
	p.commit("lease of another connection", []wattfare.Settlement{
		st("req_19", at(march, 64*time.Hour), "lease_1", c2, 500, 500, "m/a"),
	}, nil, true)
	p.commit("lease of another period", []wattfare.Settlement{
		st("req_20", at(march, 64*time.Hour), "lease_4", c1, 500, 500, "m/a"),
	}, nil, true)

	var left int64
	if err := p.fast.QueryRow(p.ctx, `SELECT amount FROM leases WHERE id = 'lease_1'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	p.commit("lease does not cover the batch", []wattfare.Settlement{
		st("req_21", at(march, 65*time.Hour), "lease_1", c1, wattfare.Money(left), wattfare.Money(left-10), "m/a"),
		st("req_22", at(march, 65*time.Hour), "lease_1", c1, 100, 100, "m/a"),
	}, nil, true)
	p.want("lease does not cover the batch: charged", p.int64s(`SELECT (SELECT charged FROM usage_events WHERE request_id = 'req_21'), (SELECT charged FROM usage_events WHERE request_id = 'req_22')`), left-10, 100)

	// A cap below what the period already captured plus the batch, while
	// the lease still covers the batch: possible only with the trigger
	// that takes the excess back off.
	p.grant("lease_5", c2.id, march, 50_000)
	p.exec(nil, `ALTER TABLE connections DISABLE TRIGGER connections_cap_lowered`)
	p.exec(nil, `UPDATE connections SET monthly_cap = (SELECT captured + 1000 FROM connection_periods
	             WHERE connection_id = $1 AND period = $2) WHERE id = $1`, c2.id, march)
	p.exec(nil, `ALTER TABLE connections ENABLE TRIGGER connections_cap_lowered`)
	p.commit("cap does not cover the batch", []wattfare.Settlement{
		st("req_23", at(march, 66*time.Hour), "lease_5", c2, 800, 800, "m/a"),
		st("req_24", at(march, 66*time.Hour), "lease_5", c2, 800, 700, "m/a"),
	}, nil, true)
	p.want("cap does not cover the batch: charged", p.int64s(`SELECT sum(charged)::bigint FROM usage_events WHERE request_id IN ('req_23', 'req_24')`), 1000)

	p.grant("lease_6", c1.id, march, 20_000)
	p.commit("fast path again", []wattfare.Settlement{
		st("req_25", at(march, 67*time.Hour), "lease_6", c1, 800, 800, "m/a"),
		st("req_26", at(march, 67*time.Hour), "lease_6", c1, 5, 5, "m/b"),
	}, nil, false)
	p.exec(nil, `UPDATE connections SET monthly_cap = (SELECT captured - 1 FROM connection_periods
	             WHERE connection_id = $1 AND period = $2) WHERE id = $1`, c1.id, march)
	p.commit("cap lowered below spend", []wattfare.Settlement{
		st("req_27", at(march, 68*time.Hour), "lease_6", c1, 800, 800, "m/a"),
		st("req_28", at(march, 68*time.Hour), "lease_6", c1, 800, 300, "m/b"),
	}, nil, true)
	p.want("cap lowered below spend: charged", p.int64s(`SELECT count(*), sum(charged)::bigint FROM usage_events WHERE request_id IN ('req_27', 'req_28')`), 2, 0)
	p.commit("release only", nil, []string{"lease_1", "lease_4", "lease_5", "lease_6", "lease_gone"}, true)
	p.want("all released", p.int64s(`SELECT (SELECT count(*) FROM leases WHERE released_at IS NULL), (SELECT sum(held)::bigint FROM connection_periods)`), 0, 0)
}
