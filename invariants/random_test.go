package invariants_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/postgres"
)

// world is the randomized test's model of what it created and observed.
type world struct {
	c         *cluster
	rng       *rand.Rand
	apps      [][]*user // users per app; all of an app's users share its key
	mu        sync.Mutex
	completed []string        // request ids whose last byte reached the client
	stopLat   []time.Duration // revoke committed → in-flight stream ended
	requests  int
	kills     []*killMidStream // processes SIGKILLed with streams open, checked at the end
	pay       *postgres.Payments
	topUps    []*paidTopUp // credited top-ups of live users (payments_test.go)
}

func (w *world) record(cs ...call) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range cs {
		w.requests++
		if c.status == 200 && c.complete && c.reqID != "" {
			w.completed = append(w.completed, c.reqID)
		}
	}
}

func (w *world) activeUsers() []*user {
	var out []*user
	for _, us := range w.apps {
		for _, u := range us {
			if !u.revoked {
				out = append(out, u)
			}
		}
	}
	return out
}

// randomApp picks an app at random and returns its users and the first of
// them not revoked (nil when all are).
func (w *world) randomApp() ([]*user, *user) {
	us := w.apps[w.rng.IntN(len(w.apps))]
	for _, u := range us {
		if !u.revoked {
			return us, u
		}
	}
	return us, nil
}

// TestRandomizedProcesses runs three `wattfare data` processes against one
// database and the in-process sandbox, and applies random steps: concurrent
// bursts from many users, cap changes, revokes, key revokes, app
// suspensions, SIGKILL and SIGTERM of processes (restarted under the same
// id), and
// pg_terminate_backend of the listeners. DESIGN.md's invariants are checked
// after every step; invariant 4 (nothing admitted after a revoke returns,
// in-flight streams end within 1 s) at each revoke; invariant 5 (no usage of
// a completed request lost) at the end.
//
// WATTFARE_SEED replays a run's sequence of steps; WATTFARE_INVARIANT_DURATION
// (default 30s) bounds it.
func TestRandomizedProcesses(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WATTFARE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WATTFARE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay: WATTFARE_SEED=%d go test ./invariants -run TestRandomizedProcesses)", seed, seed)
	dur := envDuration("WATTFARE_INVARIANT_DURATION", 30*time.Second)
	ttl := 2 * time.Second
	c := newCluster(t, 3, ttl)
	w := &world{c: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	ctx := context.Background()

	for range 2 {
		first, err := invariants.NewFixture(ctx, c.pool, w.capAmount(), w.credits())
		if err != nil {
			t.Fatal(err)
		}
		us := []*user{{Fixture: first, secret: first.SecretKey}}
		for range 5 {
			u, err := first.NewUser(ctx, c.pool, w.capAmount(), w.credits())
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, &user{Fixture: u, secret: first.SecretKey})
		}
		w.apps = append(w.apps, us)
	}
	w.liveApp(4)

	steps := []struct {
		name   string
		weight int
		run    func(*world)
	}{
		{"burst", 8, (*world).burst},
		{"cap change", 3, (*world).capChange},
		{"revoke", 2, (*world).revoke},
		{"key revoke", 1, (*world).keyRevoke},
		{"app suspension", 1, (*world).suspend},
		{"SIGKILL", 2, func(w *world) { w.restart(syscall.SIGKILL) }},
		{"SIGKILL mid-stream", 2, (*world).killMidStream},
		{"SIGTERM", 1, func(w *world) { w.restart(syscall.SIGTERM) }},
		{"terminate listeners", 2, (*world).terminateListeners},
		{"top-up", 3, (*world).topUp},
		{"refund", 2, (*world).refund},
		{"dispute", 1, (*world).dispute},
	}
	total := 0
	for _, s := range steps {
		total += s.weight
	}
	deadline := time.Now().Add(dur)
	counts := map[string]int{}
	for i := 0; time.Now().Before(deadline); i++ {
		if len(w.activeUsers()) < 4 {
			w.addUsers(4)
		}
		r := w.rng.IntN(total)
		for _, s := range steps {
			if r < s.weight {
				s.run(w)
				counts[s.name]++
				c.check(fmt.Sprintf("step %d (%s)", i, s.name))
				w.holdsBelowZero(fmt.Sprintf("step %d (%s)", i, s.name))
				break
			}
			r -= s.weight
		}
	}
	c.settleAll()
	if miss := c.missing(w.completed); len(miss) > 0 {
		c.fatalf("%d of %d completed requests have no usage event (invariant 5), e.g. %v", len(miss), len(w.completed), miss[:min(5, len(miss))])
	}
	// Invariant 5 for the streams cut by a SIGKILL: each request is charged
	// at least what its client received (less one token's price), once the
	// dead run's spool was replayed by its restart or an adopter.
	var bad []string
	delivered := 0
	for _, k := range w.kills {
		b, n := k.violations(5 * time.Second)
		bad, delivered = append(bad, b...), delivered+n
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d streams cut by %d SIGKILLs were charged less than their clients received (invariant 5), e.g.:\n%s",
			len(bad), delivered, len(w.kills), strings.Join(bad[:min(8, len(bad))], "\n"))
	}
	t.Logf("steps %v; %d requests, %d completed; %d streams cut by SIGKILL mid-stream", counts, w.requests, len(w.completed), delivered)
	if len(w.stopLat) > 0 {
		t.Logf("revoke → stream stopped across processes: p50 %v, p99 %v, max %v (n=%d)",
			percentile(w.stopLat, 0.5), percentile(w.stopLat, 0.99), percentile(w.stopLat, 1), len(w.stopLat))
	}
}

func (w *world) capAmount() wattfare.Money {
	return wattfare.Money(50+w.rng.IntN(250)) * wattfare.Cent
}

func (w *world) credits() wattfare.Money {
	return wattfare.Money(100+w.rng.IntN(400)) * wattfare.Cent
}

func (w *world) addUsers(n int) {
	us := w.apps[w.rng.IntN(len(w.apps))]
	base := us[0]
	for range n {
		u, err := base.NewUser(context.Background(), w.c.pool, w.capAmount(), w.credits())
		if err != nil {
			w.c.t.Fatal(err)
		}
		us = append(us, &user{Fixture: u, secret: base.secret})
	}
	for i := range w.apps {
		if w.apps[i][0] == base {
			w.apps[i] = us
		}
	}
}

// burst sends 10–40 concurrent requests from random users to random
// processes: non-stream and stream, small and near the cap.
func (w *world) burst() {
	if err := w.burstErr(nil); err != nil {
		w.c.fatalf("%v", err)
	}
}

// burstErr is burst for any goroutine: it returns what went wrong. Requests
// to stopping (a process being shut down) may find its port closed or their
// connection cut, but every answer it gives is typed: a request it takes in
// while stopping completes or gets 503 unavailable, never a 500. Counted
// ones must still be settled.
func (w *world) burstErr(stopping *proc) error {
	users := w.activeUsers()
	procs := w.c.live()
	n := 10 + w.rng.IntN(30)
	type job struct {
		p *proc
		u *user
		o callOpts
	}
	jobs := make([]job, n)
	for i := range jobs {
		jobs[i] = job{p: procs[w.rng.IntN(len(procs))], u: users[w.rng.IntN(len(users))],
			o: callOpts{stream: w.rng.IntN(2) == 0, tokens: 5 + w.rng.IntN(120), maxTok: 50 + w.rng.IntN(200)}}
		if w.rng.IntN(4) == 0 {
			jobs[i].o.maxTok = 0 // clamped to what is affordable
		}
		if w.rng.IntN(3) == 0 {
			jobs[i].o.model = "sandbox/echo"
		}
		if jobs[i].o.stream && w.rng.IntN(3) == 0 {
			jobs[i].o.delayMS = 1 + w.rng.IntN(5)
		}
	}
	var wg sync.WaitGroup
	results := make([]call, n)
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			results[i] = w.c.do(ctx, j.p, j.u, j.u.secret, j.o)
		}()
	}
	wg.Wait()
	w.record(results...)
	for i, r := range results {
		if r.err != nil && errors.Is(r.err, context.DeadlineExceeded) {
			return fmt.Errorf("request %d to %s hung: %v", i, jobs[i].p.id, r.err)
		}
		if r.err == nil && r.status >= 500 && r.code != wattfare.EUnavailable {
			what := ""
			if jobs[i].p == stopping {
				what = " while it stopped"
			}
			return fmt.Errorf("request %s to %s%s: status %d code %q", r.reqID, jobs[i].p.id, what, r.status, r.code)
		}
	}
	return nil
}

// capChange raises or lowers a user's cap, never below what is already
// captured, but often below what leases hold.
func (w *world) capChange() {
	users := w.activeUsers()
	u := users[w.rng.IntN(len(users))]
	ctx := context.Background()
	tx, err := w.c.pool.Begin(ctx)
	if err != nil {
		w.c.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// As the control plane's cap change: the cap is no key, so the lock lets
	// settlements' foreign-key checks through (FOR UPDATE would not, and
	// deadlocks with a settlement holding the period row).
	if _, err := tx.Exec(ctx, `SELECT 1 FROM connections WHERE id = $1 FOR NO KEY UPDATE`, u.ConnectionID); err != nil {
		w.c.t.Fatal(err)
	}
	var used int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(captured + held), 0) FROM connection_periods
		WHERE connection_id = $1 AND period = date_trunc('month', now() AT TIME ZONE 'UTC')::date`, u.ConnectionID).Scan(&used); err != nil {
		w.c.t.Fatal(err)
	}
	// Lock the period row too so no grant lands between read and write.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM connection_periods WHERE connection_id = $1 ORDER BY period FOR UPDATE`, u.ConnectionID); err != nil {
		w.c.t.Fatal(err)
	}
	// Below what leases hold is fine (the ledger takes the excess back);
	// below what is captured would break invariant 1 by the user's hand.
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(captured), 0) FROM connection_periods
		WHERE connection_id = $1 AND period = date_trunc('month', now() AT TIME ZONE 'UTC')::date`, u.ConnectionID).Scan(&used); err != nil {
		w.c.t.Fatal(err)
	}
	newCap := used + int64(w.rng.IntN(150))*int64(wattfare.Cent)
	if _, err := tx.Exec(ctx, `UPDATE connections SET monthly_cap = $2 WHERE id = $1`, u.ConnectionID, newCap); err != nil {
		w.c.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		w.c.t.Fatal(err)
	}
	u.Cap = wattfare.Money(newCap)
}

// slowStreams opens a long stream for u on every live process and waits for
// each first byte.
func (w *world) slowStreams(u *user, secret string) ([]chan call, []*proc) {
	procs := w.c.live()
	var outs []chan call
	for _, p := range procs {
		started := make(chan struct{})
		out := make(chan call, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out <- w.c.do(ctx, p, u, secret, callOpts{model: "sandbox/echo", stream: true, tokens: 400, delayMS: 10, maxTok: 400, started: started})
		}()
		<-started
		outs = append(outs, out)
	}
	return outs, procs
}

// revoke revokes a user's connection while a stream is open on every
// process: once the revoke returns (leases surrendered or expired), every
// stream must have ended with connection_revoked within 1 s and no process
// may admit the user.
func (w *world) revoke() {
	users := w.activeUsers()
	u := users[w.rng.IntN(len(users))]
	w.revokeWith(u, u.secret, `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE id = $1`, u.ConnectionID,
		postgres.LeaseScope{ConnectionID: u.ConnectionID}, wattfare.EConnectionRevoked)
	u.revoked = true
}

// keyRevoke rolls an app to a new key and revokes the old one with streams
// open on it on every process.
func (w *world) keyRevoke() {
	us, u := w.randomApp()
	if u == nil {
		return
	}
	old := u.secret
	oldKey, err := wattfare.ParseSecretKey(old)
	if err != nil {
		w.c.t.Fatal(err)
	}
	_, secret, err := u.AddKey(context.Background(), w.c.pool)
	if err != nil {
		w.c.t.Fatal(err)
	}
	w.revokeWith(u, old, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, oldKey.ID.String(),
		postgres.LeaseScope{AppID: u.AppID, Mode: u.Mode}, wattfare.EInvalidAPIKey)
	for _, x := range us {
		x.secret = secret
	}
}

func (w *world) revokeWith(u *user, secret, sql, id string, scope postgres.LeaseScope, code string) {
	t := w.c.t
	streams, procs := w.slowStreams(u, secret)
	t0 := time.Now()
	if _, err := w.c.pool.Exec(context.Background(), sql, id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := invariants.AwaitLeasesReleased(ctx, w.c.pool, scope); err != nil {
		w.c.fatalf("revoke did not complete: %v", err)
	}
	returned := time.Now()
	for i, ch := range streams {
		var r call
		select {
		case r = <-ch:
		case <-time.After(time.Until(returned.Add(time.Second))):
			w.c.fatalf("stream on %s still running 1 s after the revoke returned (invariant 4)", procs[i].id)
		}
		w.record(r)
		if r.err != nil {
			continue // its process was killed meanwhile
		}
		if r.status == 200 && r.code != code {
			// It may have finished before the revoke, or hit the cap.
			if r.code != wattfare.ECapReached && r.code != wattfare.EBudgetExhausted && r.code != "" {
				w.c.fatalf("stream on %s ended with %q, want %s", procs[i].id, r.code, code)
			}
			if r.code == "" && r.endAt.After(t0) && r.endAt.Sub(r.firstAt) < 3*time.Second {
				w.c.fatalf("stream on %s ended cleanly %v after the revoke", procs[i].id, r.endAt.Sub(t0))
			}
			continue
		}
		if r.status == 200 {
			w.mu.Lock()
			w.stopLat = append(w.stopLat, r.endAt.Sub(t0))
			w.mu.Unlock()
		}
	}
	// Invariant 4: no process starts a new upstream request for it.
	for _, p := range w.c.live() {
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		r := w.c.do(rctx, p, u, secret, callOpts{tokens: 1, maxTok: 5})
		rcancel()
		w.record(r)
		// A cap refusal cached for a few hundred milliseconds before the
		// revoke may still answer: it admits nothing either.
		if r.status == 200 || (r.code != code && r.code != wattfare.ECapReached && r.code != wattfare.EBudgetExhausted) {
			w.c.fatalf("after the revoke returned, %s answered %d %q, want %s", p.id, r.status, r.code, code)
		}
	}
}

// suspend suspends an app with streams open on every process, checks that
// they end and nothing is admitted, then lifts the suspension.
func (w *world) suspend() {
	_, u := w.randomApp()
	if u == nil {
		return
	}
	w.revokeWith(u, u.secret, `UPDATE apps SET suspended_at = now() WHERE id = $1`, u.AppID,
		postgres.LeaseScope{AppID: u.AppID}, wattfare.EAppSuspended)
	if _, err := w.c.pool.Exec(context.Background(), `UPDATE apps SET suspended_at = NULL WHERE id = $1`, u.AppID); err != nil {
		w.c.fatalf("lift suspension: %v", err)
	}
}

// restart stops a random process with sig in the middle of a burst and
// starts it again under the same id.
func (w *world) restart(sig syscall.Signal) {
	procs := w.c.live()
	p := procs[w.rng.IntN(len(procs))]
	delay := time.Duration(w.rng.IntN(80)) * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- w.burstErr(p) }()
	time.Sleep(delay)
	w.c.stop(p, sig)
	err := <-done
	w.c.start(p)
	if err != nil {
		w.c.fatalf("%v", err)
	}
}

// terminateListeners cuts the LISTEN connections of the data-plane
// processes; they reconnect and resync.
func (w *world) terminateListeners() {
	if _, err := w.c.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`); err != nil {
		w.c.t.Fatal(err)
	}
	w.burst()
}

// killMidStream opens 2–6 slow streams on a random process, SIGKILLs it
// once each stream has received a random number of tokens, and has the
// dead run's spool replayed: at once by its restart under the same process
// id, or first by whichever live process adopts it (the process restarts
// once its streams are charged, or after a lease TTL and a bit). What each
// stream's client received is checked against its charge at the end of the
// run, so that the other steps go on while that fails.
func (w *world) killMidStream() {
	procs := w.c.live()
	if len(procs) < 2 {
		w.burst()
		return
	}
	p := procs[w.rng.IntN(len(procs))]
	active := w.activeUsers()
	var plan []cutStream
	for range 2 + w.rng.IntN(5) {
		// Holds of $0.15–0.40 on pricey: most users can afford one or two.
		cs := cutStream{user: active[w.rng.IntN(len(active))], model: "sandbox/pricey", delayMS: 2 + w.rng.IntN(20),
			usage: w.rng.IntN(2) == 0, atLeast: 1 + w.rng.IntN(40), tokens: 150 + w.rng.IntN(250)}
		if w.rng.IntN(2) == 0 {
			cs.model = "sandbox/echo"
		}
		plan = append(plan, cs)
	}
	k := w.c.openAndKill(p, plan)
	if w.rng.IntN(2) == 0 {
		w.c.start(p)
	} else {
		w.c.charges(k.ids(), w.c.ttl+2*time.Second) // an adopter's turn
		w.c.start(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kills = append(w.kills, k)
	for _, s := range k.streams {
		w.requests++
		if s.status == 200 && s.ended && s.reqID != "" {
			w.completed = append(w.completed, s.reqID)
		}
	}
}
