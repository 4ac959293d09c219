package invariants_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/postgres"
)

// TestLeaseFigures measures, on three `wattfare data` processes sharing one
// database, what the lease engine promises: Postgres transactions per 1,000
// requests (they scale with leases and batches, not requests) and the time
// from a revoke's commit to the end of in-flight streams on every process.
// It asserts generous bounds and logs the figures for BENCHMARKS.md:
//
//	go test ./invariants -run TestLeaseFigures -v
func TestLeaseFigures(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, 10*time.Second)
	ctx := context.Background()
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

	// Warm the proxies' caches, then count transactions over a steady load.
	run := func(n int) (ok int64) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					model := "sandbox/echo"
					if i%4 == 0 {
						model = "sandbox/pricey" // $0.02 to $0.04 a request
					}
					r := c.do(rctx, c.procs[i%3], users[i%nUsers], first.SecretKey,
						callOpts{model: model, tokens: 20, maxTok: 40, stream: i%2 == 0})
					cancel()
					if r.status == 200 && r.complete && r.code == "" {
						atomic.AddInt64(&ok, 1)
					}
				}
			}()
		}
		wg.Wait()
		return ok
	}
	run(200)
	time.Sleep(1500 * time.Millisecond) // let every backend flush its statistics
	before := c.xacts()
	const n = 10000
	start := time.Now()
	ok := run(n)
	elapsed := time.Since(start)
	time.Sleep(1500 * time.Millisecond)
	xacts := c.xacts() - before
	if ok < n*9/10 {
		t.Fatalf("only %d of %d requests succeeded", ok, n)
	}
	per1k := float64(xacts) * 1000 / float64(n)
	var leases int
	c.pool.QueryRow(ctx, `SELECT count(*) FROM leases`).Scan(&leases)
	t.Logf("Postgres transactions per 1,000 requests: %.1f (%d transactions for %d requests in %v: 3 processes, %d users, 32 clients, "+
		"a quarter on sandbox/pricey; %d leases over the whole test, incl. warm-up)",
		per1k, xacts, n, elapsed.Round(time.Millisecond), nUsers, leases)
	if per1k > 400 {
		t.Fatalf("%.0f transactions per 1,000 requests: Postgres work should follow leases and batches, not requests", per1k)
	}
	c.check("steady load")

	// Revocation to stop: one stream per process, then the revoke.
	var lat []time.Duration
	w := &world{c: c}
	for i := 0; i < 12; i++ {
		u := users[i]
		streams, procs := w.slowStreams(u, first.SecretKey)
		t0 := time.Now()
		if _, err := c.pool.Exec(ctx, `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE id = $1`, u.ConnectionID); err != nil {
			t.Fatal(err)
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := invariants.AwaitLeasesReleased(actx, c.pool, postgres.LeaseScope{ConnectionID: u.ConnectionID}); err != nil {
			t.Fatal(err)
		}
		cancel()
		returned := time.Since(t0)
		for j, ch := range streams {
			r := <-ch
			if r.code != wattfare.EConnectionRevoked {
				c.fatalf("stream on %s ended with %q (status %d, err %v), want connection_revoked", procs[j].id, r.code, r.status, r.err)
			}
			lat = append(lat, r.endAt.Sub(t0))
		}
		if i == 0 {
			t.Logf("first revoke returned after %v", returned.Round(time.Microsecond))
		}
	}
	t.Logf("revoke committed → stream ended, across 3 processes: p50 %v, p99 %v, max %v (n=%d)",
		percentile(lat, 0.5).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond),
		percentile(lat, 1).Round(time.Microsecond), len(lat))
	if p := percentile(lat, 1); p > time.Second {
		t.Fatalf("a stream ran %v after its revoke (invariant 4 allows 1 s)", p)
	}
	c.settleAll()
}
