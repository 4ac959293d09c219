package invariants_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
)

// TestLeaseFigures measures, on three `wattfare data` processes sharing one
// database, what the lease engine promises: Postgres transactions per 1,000
// requests (they scale with leases and batches, not requests) and the time
// from a revoke (the web app's revokeConnection mutation) to the end of
// in-flight streams on every process. It asserts generous bounds and logs
// the figures for BENCHMARKS.md:
//
//	go test ./invariants -run TestLeaseFigures -v
func TestLeaseFigures(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, 10*time.Second)
	ctx := context.Background()
	stats := newXactCounter(t, c.url)
	const nUsers = 16
	first, err := invariants.NewFixture(ctx, c.pool, wattfare.USD(100), wattfare.USD(100))
	if err != nil {
		t.Fatal(err)
	}
	users := []*user{{Fixture: first, secret: first.SecretKey}}
	for len(users) < nUsers {
		u, err := first.NewUser(ctx, c.pool, wattfare.USD(100), wattfare.USD(100))
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, &user{Fixture: u, secret: first.SecretKey})
	}

	// run sends n requests from 32 clients and returns the request ids of
	// those that succeeded.
	run := func(n int) (ok []string) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		next := make(chan int)
		go func() {
			for i := 1; i <= n; i++ {
				next <- i
			}
			close(next)
		}()
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					model := "sandbox/echo"
					if i%4 == 0 {
						model = "sandbox/pricey" // $0.02 to $0.04 a request
					}
					r := c.do(rctx, c.procs[i%3], users[i%nUsers], first.SecretKey,
						callOpts{model: model, tokens: 20, maxTok: 40, stream: i%2 == 0})
					cancel()
					if r.status == 200 && r.complete && r.code == "" {
						mu.Lock()
						ok = append(ok, r.reqID)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return ok
	}

	// Warm the proxies' caches and pools, then count transactions over a
	// steady load, from a quiet database to a quiet database: the window
	// holds every transaction the load caused, its leases' grants and
	// releases included, and none of the test's own.
	warm := run(200)
	before := stats.quiet()
	const n = 10000
	start := time.Now()
	ok := run(n)
	elapsed := time.Since(start)
	after := stats.quiet()
	xacts := after - before
	if len(ok) < n*9/10 {
		t.Fatalf("only %d of %d requests succeeded", len(ok), n)
	}
	// The quiet database is also the order: a settlement still unwritten
	// after it would be one the data plane held back for seconds.
	if missing := c.missing(append(warm, ok...)); len(missing) > 0 {
		c.fatalf("%d completed requests have no usage event once the database was quiet, e.g. %s", len(missing), missing[0])
	}
	per1k := float64(xacts) * 1000 / float64(n)
	var leases int
	c.pool.QueryRow(ctx, `SELECT count(*) FROM leases`).Scan(&leases)
	t.Logf("Postgres transactions per 1,000 requests: %.1f (%d transactions for %d requests in %v: 3 processes, %d users, 32 clients, "+
		"a quarter on sandbox/pricey; incl. the leases' grants and releases; %d leases over the whole test, incl. warm-up)",
		per1k, xacts, n, elapsed.Round(time.Millisecond), nUsers, leases)
	if per1k > 400 {
		t.Fatalf("%.0f transactions per 1,000 requests: Postgres work should follow leases and batches, not requests", per1k)
	}
	c.check("steady load")

	// Revocation to stop: one stream per process, then the payer revokes
	// the connection on the budget page. The mutation answers once no
	// process admits a request for it; every stream must have ended with
	// connection_revoked within 1 s of that answer (invariant 4).
	cp := newControlPlane(c)
	var lat []time.Duration
	w := &world{c: c}
	for i := 0; i < 12; i++ {
		u := users[i]
		session := cp.session(ctx, u.AccountID)
		streams, procs := w.slowStreams(u, first.SecretKey)
		t0 := time.Now()
		if err := cp.revokeConnection(ctx, session, u.ConnectionID); err != nil {
			c.fatalf("%v", err)
		}
		returned := time.Now()
		for j, ch := range streams {
			var r call
			select {
			case r = <-ch:
			case <-time.After(time.Until(returned.Add(time.Second))):
				c.fatalf("stream on %s still running 1 s after revokeConnection returned (invariant 4)", procs[j].id)
			}
			if r.code != wattfare.EConnectionRevoked {
				c.fatalf("stream on %s ended with %q (status %d, err %v), want connection_revoked", procs[j].id, r.code, r.status, r.err)
			}
			lat = append(lat, r.endAt.Sub(t0))
		}
		if i == 0 {
			t.Logf("first revoke returned after %v", returned.Sub(t0).Round(time.Microsecond))
		}
	}
	t.Logf("revoke sent → stream ended, across 3 processes: p50 %v, p99 %v, max %v (n=%d)",
		percentile(lat, 0.5).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond),
		percentile(lat, 1).Round(time.Microsecond), len(lat))
	if p := percentile(lat, 1); p > time.Second {
		t.Fatalf("a stream ran %v after its revoke was sent (invariant 4 allows 1 s)", p)
	}
	c.settleAll()
}

// xactCounter reads a database's committed-transaction count
// (pg_stat_database.xact_commit) over a connection to another database of
// the server, so that reading it, and waiting until it is complete, adds
// nothing to what it counts.
type xactCounter struct {
	t    testing.TB
	conn *pgx.Conn
	db   string
}

func newXactCounter(t testing.TB, dbURL string) *xactCounter {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &xactCounter{t: t, conn: conn, db: db}
}

// statsIdle is how long a backend must have been idle for its statistics
// to be in pg_stat_database: a backend reports them when it goes idle, but
// at most once a second, and when that is too soon it reports them once it
// has been idle for 10 s (PGSTAT_MIN_INTERVAL and PGSTAT_IDLE_INTERVAL in
// Postgres 15's pgstat.c). The margin covers the timer's latency.
const statsIdle = 10*time.Second + 500*time.Millisecond

// quiet waits until every client backend on the database has been idle for
// statsIdle, or has exited (a backend reports its statistics as it exits),
// and returns the count of committed transactions then: it includes every
// transaction committed before the database went quiet.
func (x *xactCounter) quiet() int64 {
	x.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		var busy []string
		rows, err := x.conn.Query(ctx, `SELECT format('pid %s %s for %s: %s', pid, coalesce(state, '?'), clock_timestamp() - state_change, left(query, 80))
			FROM pg_stat_activity
			WHERE datname = $1 AND backend_type = 'client backend'
			  AND (state IS DISTINCT FROM 'idle' OR state_change > clock_timestamp() - make_interval(secs => $2))`,
			x.db, statsIdle.Seconds())
		if err != nil {
			x.t.Fatal(err)
		}
		busy, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			x.t.Fatal(err)
		}
		if len(busy) == 0 {
			var n int64
			if err := x.conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, x.db).Scan(&n); err != nil {
				x.t.Fatal(err)
			}
			return n
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("the database never went quiet for %v; busy: %s", statsIdle, strings.Join(busy, "; "))
		}
		time.Sleep(100 * time.Millisecond) // polling an observable state, with a deadline
	}
}
