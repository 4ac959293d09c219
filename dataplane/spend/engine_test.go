package spend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

type env struct {
	t     *testing.T
	url   string
	pool  *pgxpool.Pool
	spool string
}

func setup(t *testing.T) *env {
	t.Helper()
	url := pgtest.NewURL(t)
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &env{t: t, url: url, pool: pool, spool: t.TempDir()}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// engine starts one "process" on the shared database; it is closed at the
// end of the test unless the test closes or crashes it first.
func (v *env) engine(mod func(*spend.Config)) *spend.Engine {
	v.t.Helper()
	cfg := spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: 3 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	e, err := spend.New(cfg, postgres.NewLedger(v.pool))
	if err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Close(ctx)
	})
	return e
}

func (v *env) fixture(capAmount, credits wattfare.Money) invariants.Fixture {
	v.t.Helper()
	f, err := invariants.NewFixture(context.Background(), v.pool, capAmount, credits)
	if err != nil {
		v.t.Fatal(err)
	}
	return f
}

func payer(f invariants.Fixture) spend.Payer {
	return spend.Payer{ConnectionID: f.ConnectionID, AccountID: f.AccountID, AppID: f.AppID, KeyID: f.KeyID,
		AppUserID: f.AppUserID, Mode: f.Mode, MonthlyCap: f.Cap}
}

func (v *env) check() {
	v.t.Helper()
	if err := invariants.Check(context.Background(), v.pool); err != nil {
		v.t.Fatal(err)
	}
}

// quiesce closes the engines and checks that nothing is left held.
func (v *env) quiesce(engines ...*spend.Engine) {
	v.t.Helper()
	for _, e := range engines {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.Close(ctx); err != nil {
			v.t.Fatalf("close: %v", err)
		}
		cancel()
	}
	if err := invariants.CheckQuiet(context.Background(), v.pool); err != nil {
		v.t.Fatal(err)
	}
}

func (v *env) captured(f invariants.Fixture, period time.Time) wattfare.Money {
	var c int64
	err := v.pool.QueryRow(context.Background(),
		`SELECT coalesce((SELECT captured FROM connection_periods WHERE connection_id = $1 AND period = $2), 0)`,
		f.ConnectionID, period).Scan(&c)
	if err != nil {
		v.t.Fatal(err)
	}
	return wattfare.Money(c)
}

func code(err error) string { return wattfare.ErrorCode(err) }

var reqN struct {
	sync.Mutex
	n int
}

func reqID() string {
	reqN.Lock()
	defer reqN.Unlock()
	reqN.n++
	return fmt.Sprintf("req_%d_%s", reqN.n, wattfare.NewID("")[:8])
}

func usage(cost wattfare.Money) wattfare.Usage {
	return wattfare.Usage{Model: "sandbox/pricey", Upstream: "sandbox", Endpoint: "chat", Stream: true, Status: "ok",
		PromptTokens: 10, CompletionTokens: 90, Cost: cost}
}

// burst admits n requests of amount at once, spread over engines, keeps the
// admitted ones open until every attempt finished, then settles each at its
// full hold. It returns how many were admitted and the refusal codes.
func burst(t *testing.T, engines []*spend.Engine, p spend.Payer, n int, amount wattfare.Money) (int, map[string]int) {
	t.Helper()
	var mu sync.Mutex
	var holds []*spend.Hold
	refused := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h, err := engines[i%len(engines)].Admit(context.Background(), p, spend.Admission{RequestID: reqID(), Amount: amount})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused[code(err)]++
				var we *wattfare.Error
				if errors.As(err, &we) && we.Code == wattfare.ECapReached {
					for _, k := range []string{"limit_source", "cap_usd", "spent_usd", "resets_at"} {
						if we.Metadata[k] == nil {
							t.Errorf("cap_reached without metadata %s: %v", k, we.Metadata)
						}
					}
				}
				return
			}
			holds = append(holds, h)
		}()
	}
	close(start)
	wg.Wait()
	for _, h := range holds {
		h.Settle(usage(h.Amount()))
	}
	return len(holds), refused
}

func TestFiftyRequestsAgainstADollarCap(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	e := v.engine(nil)
	admitted, refused := burst(t, []*spend.Engine{e}, payer(f), 50, 10*wattfare.Cent)
	if admitted != 10 || refused[wattfare.ECapReached] != 40 {
		t.Fatalf("admitted %d, refused %v; want 10 admitted and 40 cap_reached", admitted, refused)
	}
	v.check()
	v.quiesce(e)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.USD(1) {
		t.Fatalf("captured %s, want 1.00", got)
	}
}

func TestFiftyRequestsAcrossThreeProcesses(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	engines := []*spend.Engine{v.engine(nil), v.engine(nil), v.engine(nil)}
	v.listen(engines...)
	admitted, refused := burst(t, engines, payer(f), 50, 10*wattfare.Cent)
	if admitted > 10 || admitted < 1 || admitted+refused[wattfare.ECapReached] != 50 {
		t.Fatalf("admitted %d, refused %v; want at most 10 admitted and the rest cap_reached", admitted, refused)
	}
	t.Logf("admitted %d of 50 across three engines", admitted)
	v.check()
	v.quiesce(engines...)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.Money(admitted)*10*wattfare.Cent {
		t.Fatalf("captured %s, want %d × 0.10", got, admitted)
	}
}

func TestStreamCutAtCap(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	a, b := v.engine(nil), v.engine(nil)
	// Another request of the same user spends $0.30 meanwhile.
	other, err := a.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 30 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	grown := 0
	for to := 2 * wattfare.Cent; to <= wattfare.USD(2); to += wattfare.Cent {
		if !h.Grow(to) {
			break
		}
		grown++
	}
	if h.Amount() != 70*wattfare.Cent {
		t.Fatalf("stream hold reached %s after %d growths, want it cut at 0.70", h.Amount(), grown)
	}
	v.check()
	if _, err := b.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent}); code(err) != wattfare.ECapReached {
		t.Fatalf("another process admitted past the cap: %v", err)
	}
	h.Settle(usage(h.Amount()))
	other.Settle(usage(30 * wattfare.Cent))
	v.quiesce(a, b)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.USD(1) {
		t.Fatalf("captured %s, want 1.00", got)
	}
}

func TestStreamCutAtCapAcrossProcesses(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	a, b := v.engine(nil), v.engine(nil)
	v.listen(a, b)
	// Another process admits $0.30 and keeps a spare lease meanwhile.
	other, err := b.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 30 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	for to := 2 * wattfare.Cent; to <= wattfare.USD(2); to += wattfare.Cent {
		if !h.Grow(to) {
			break
		}
	}
	if h.Amount() != 70*wattfare.Cent {
		t.Fatalf("stream hold cut at %s, want at 0.70: the other process's spare must come back", h.Amount())
	}
	v.check()
	h.Settle(usage(h.Amount()))
	other.Settle(usage(30 * wattfare.Cent))
	v.quiesce(a, b)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != wattfare.USD(1) {
		t.Fatalf("captured %s, want 1.00", got)
	}
}

func TestAdmittedAtMonthEnd(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	var mu sync.Mutex
	now := time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := v.engine(func(c *spend.Config) { c.Now = clock })
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_late_october", Amount: 50 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = time.Date(2026, 11, 1, 0, 0, 3, 0, time.UTC)
	mu.Unlock()
	// A request of the new month, then the October one grows and settles.
	n, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_early_november", Amount: 20 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Grow(60 * wattfare.Cent) {
		t.Fatal("the October stream could not grow after midnight")
	}
	h.Settle(usage(55 * wattfare.Cent))
	n.Settle(usage(20 * wattfare.Cent))
	v.quiesce(e)
	oct, nov := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if got := v.captured(f, oct); got != 55*wattfare.Cent {
		t.Fatalf("October captured %s, want 0.55", got)
	}
	if got := v.captured(f, nov); got != 20*wattfare.Cent {
		t.Fatalf("November captured %s, want 0.20", got)
	}
	var created time.Time
	if err := v.pool.QueryRow(context.Background(), `SELECT created_at FROM usage_events WHERE request_id = 'req_late_october'`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if !created.Equal(time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC)) {
		t.Fatalf("usage event dated %s", created)
	}
}

// listen forwards wattfare_changes to the engines, as the data plane's
// listener does.
func (v *env) listen(engines ...*spend.Engine) {
	v.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, v.url)
	if err != nil {
		v.t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+wattfare.NotifyChannel); err != nil {
		v.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			var ev wattfare.ChangeEvent
			if json.Unmarshal([]byte(n.Payload), &ev) == nil {
				for _, e := range engines {
					e.Invalidate(ev)
				}
			}
		}
	}()
	v.t.Cleanup(func() { cancel(); <-done; conn.Close(context.Background()) })
}

func TestRevokeWhileStreamsOpenOnEveryProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		revoke string
		scope  postgres.LeaseScope
		code   string
	}{
		{"ConnectionRevoked", `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE id = $1`, postgres.LeaseScope{}, wattfare.EConnectionRevoked},
		{"AppSuspended", `UPDATE apps SET suspended_at = now() WHERE id = (SELECT app_id FROM connections WHERE id = $1)`, postgres.LeaseScope{}, wattfare.EAppSuspended},
		{"KeyRevoked", `UPDATE api_keys SET revoked_at = now() WHERE app_id = (SELECT app_id FROM connections WHERE id = $1)`, postgres.LeaseScope{}, wattfare.EInvalidAPIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := setup(t)
			f := v.fixture(wattfare.USD(10), wattfare.USD(20))
			engines := []*spend.Engine{v.engine(nil), v.engine(nil), v.engine(nil)}
			v.listen(engines...)
			var holds []*spend.Hold
			for _, e := range engines {
				for range 2 {
					h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent})
					if err != nil {
						t.Fatal(err)
					}
					holds = append(holds, h)
				}
			}
			if _, err := v.pool.Exec(context.Background(), tc.revoke, f.ConnectionID); err != nil {
				t.Fatal(err)
			}
			scope := postgres.LeaseScope{ConnectionID: f.ConnectionID}
			if tc.code != wattfare.EConnectionRevoked {
				scope = postgres.LeaseScope{AppID: f.AppID, Mode: f.Mode}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The proxy ends each stream when Done closes, and settles it.
			for _, h := range holds {
				go func() {
					<-h.Done()
					h.Settle(usage(5 * wattfare.Cent))
				}()
			}
			if err := invariants.AwaitLeasesReleased(ctx, v.pool, scope); err != nil {
				t.Fatal(err)
			}
			for i, h := range holds {
				select {
				case <-h.Done():
				case <-ctx.Done():
					t.Fatalf("hold %d still open after the revoke returned", i)
				}
				if code(h.Err()) != tc.code {
					t.Fatalf("hold %d ended with %v, want %s", i, h.Err(), tc.code)
				}
			}
			for i, e := range engines {
				_, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
				if code(err) != tc.code {
					t.Fatalf("engine %d admitted after the revoke: %v", i, err)
				}
			}
			v.check()
			v.quiesce(engines...)
			if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 30*wattfare.Cent {
				t.Fatalf("captured %s, want 6 × 0.05", got)
			}
		})
	}
}

func TestKillAfterAdmissionBeforeSettlement(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	// A commit that never lands stands for a kill between the spool write
	// and the batch commit.
	ledger := &stalledLedger{Ledger: postgres.NewLedger(v.pool)}
	dead, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: time.Second, ProcessID: "victim", AdoptInterval: -1}, ledger)
	if err != nil {
		t.Fatal(err)
	}
	settled, err := dead.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_spooled", Amount: 40 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Admit(context.Background(), payer(f), spend.Admission{RequestID: "req_in_flight", Amount: 40 * wattfare.Cent}); err != nil {
		t.Fatal(err)
	}
	ledger.stall()
	settled.Settle(usage(30 * wattfare.Cent)) // its last byte reached the client
	segs, _ := filepath.Glob(filepath.Join(v.spool, "victim", "*.spool"))
	saved := map[string][]byte{}
	for _, s := range segs {
		saved[s], _ = os.ReadFile(s)
	}
	dead.Crash()
	v.check()

	// A running process adopts the dead one's spool: it charges the spooled
	// settlement from the dead process's lease, which held it all along,
	// then releases that lease, then deletes the spool.
	survivor := v.engine(func(c *spend.Config) { c.AdoptInterval = -1 })
	if n := survivor.Adopt(context.Background()); n != 1 {
		t.Fatalf("adopted %d spools, want 1", n)
	}
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 30*wattfare.Cent {
		t.Fatalf("spooled settlement not replayed: captured %s", got)
	}
	if n := v.openLeases("victim"); n != 0 {
		t.Fatalf("%d leases of the dead process still open after its spool was adopted", n)
	}
	if _, err := os.Stat(filepath.Join(v.spool, "victim")); !os.IsNotExist(err) {
		t.Fatalf("the adopted spool directory is still there: %v", err)
	}
	if n := survivor.Adopt(context.Background()); n != 0 {
		t.Fatalf("a second pass adopted %d spools", n)
	}
	v.check()

	// Replaying the same spool again charges nothing twice.
	if err := os.MkdirAll(filepath.Join(v.spool, "victim-again"), 0o700); err != nil {
		t.Fatal(err)
	}
	for s, b := range saved {
		if err := os.WriteFile(filepath.Join(v.spool, "victim-again", filepath.Base(s)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again := v.engine(func(c *spend.Config) { c.AdoptInterval = -1 })
	if n := again.Adopt(context.Background()); n != 1 {
		t.Fatalf("adopted %d spools, want 1", n)
	}
	v.quiesce(survivor, again)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 30*wattfare.Cent {
		t.Fatalf("captured %s after a second replay, want 0.30 once", got)
	}
	if left, _ := filepath.Glob(filepath.Join(v.spool, "*", "*")); len(left) != 0 {
		t.Fatalf("spool files left after replay: %v", left)
	}
}

// openLeases counts the unreleased leases of a process.
func (v *env) openLeases(processID string) int {
	v.t.Helper()
	var n int
	if err := v.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM leases WHERE process_id = $1 AND released_at IS NULL`, processID).Scan(&n); err != nil {
		v.t.Fatal(err)
	}
	return n
}

// stalledLedger passes through until stall, then never commits.
type stalledLedger struct {
	*postgres.Ledger
	mu      sync.Mutex
	stalled bool
}

func (s *stalledLedger) stall() { s.mu.Lock(); s.stalled = true; s.mu.Unlock() }

func (s *stalledLedger) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	s.mu.Lock()
	st := s.stalled
	s.mu.Unlock()
	if st {
		return errors.New("killed")
	}
	return s.Ledger.Commit(ctx, ss, rel)
}

func TestReleaseChargesNothing(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	e := v.engine(nil)
	for range 30 {
		h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 40 * wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		h.Release()
	}
	v.quiesce(e)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 0 {
		t.Fatalf("captured %s after releases", got)
	}
}

func TestWalletExhausted(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), 25*wattfare.Cent)
	e := v.engine(nil)
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 20 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 20 * wattfare.Cent})
	var we *wattfare.Error
	if !errors.As(err, &we) || we.Code != wattfare.EBudgetExhausted || we.Metadata["limit_source"] != "wallet" {
		t.Fatalf("second admission: %v, want budget_exhausted from the wallet", err)
	}
	// An unset max_tokens is clamped to what is left: MinAmount.
	c, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 20 * wattfare.Cent, MinAmount: wattfare.Cent})
	if err != nil {
		t.Fatalf("clamped admission: %v", err)
	}
	if c.Amount() != 5*wattfare.Cent {
		t.Fatalf("clamped hold %s, want the 0.05 left", c.Amount())
	}
	h.Settle(usage(20 * wattfare.Cent))
	c.Settle(usage(5 * wattfare.Cent))
	v.quiesce(e)
}

func TestNotConnected(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(1))
	e := v.engine(nil)
	p := payer(f)
	p.ConnectionID = "conn_nobody"
	if _, err := e.Admit(context.Background(), p, spend.Admission{RequestID: reqID(), Amount: wattfare.Cent}); code(err) != wattfare.ENotConnected {
		t.Fatalf("got %v, want not_connected", err)
	}
	b, err := e.Budget(context.Background(), payer(f))
	if err != nil || b.Cap != wattfare.USD(1) || b.Remaining != wattfare.USD(1) {
		t.Fatalf("budget %+v, %v", b, err)
	}
}

func TestIdleLeasesReturn(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(1), wattfare.USD(20))
	e := v.engine(func(c *spend.Config) { c.IdleAfter = 100 * time.Millisecond })
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(usage(3 * wattfare.Cent))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := invariants.AwaitLeasesReleased(ctx, v.pool, postgres.LeaseScope{ConnectionID: f.ConnectionID}); err != nil {
		t.Fatal(err)
	}
	if err := invariants.CheckQuiet(ctx, v.pool); err != nil {
		t.Fatal(err)
	}
}

// downLedger fails every call while down is set, as a lost database does.
type downLedger struct {
	*postgres.Ledger
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (d *downLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	if d.down.Load() {
		return wattfare.LeaseGrant{}, errDown
	}
	return d.Ledger.GrantLease(ctx, r)
}

func (d *downLedger) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	if d.down.Load() {
		return errDown
	}
	return d.Ledger.Commit(ctx, ss, rel)
}

func TestLedgerUnreachable(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	ledger := &downLedger{Ledger: postgres.NewLedger(v.pool)}
	e, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet, LeaseTTL: time.Second, MinLease: wattfare.USD(1)}, ledger)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	ledger.down.Store(true)
	h.Settle(usage(10 * wattfare.Cent)) // spooled; its commit waits for the ledger
	// Within the unexpired lease, admission goes on.
	if h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent}); err != nil {
		t.Fatalf("admission within the lease: %v", err)
	} else {
		h.Settle(usage(10 * wattfare.Cent))
	}
	// Once it expires: 503 unavailable, never an admission without a lease.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
		if code(err) == wattfare.EUnavailable {
			break
		}
		if err != nil {
			t.Fatalf("got %v, want unavailable", err)
		}
		h.Release()
		if time.Now().After(deadline) {
			t.Fatal("still admitting long after the lease expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ledger.down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := invariants.CheckQuiet(ctx, v.pool); err != nil {
		t.Fatal(err)
	}
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 20*wattfare.Cent {
		t.Fatalf("captured %s, want both settlements (0.20)", got)
	}
}

func TestResyncFindsMissedRevoke(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	e := v.engine(nil) // no listener: the notification is lost
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 10 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.pool.Exec(context.Background(), `UPDATE connections SET status = 'revoked' WHERE id = $1`, f.ConnectionID); err != nil {
		t.Fatal(err)
	}
	e.Resync() // as after the listener reconnects
	select {
	case <-h.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("resync did not end the hold of a revoked connection")
	}
	if code(h.Err()) != wattfare.EConnectionRevoked {
		t.Fatalf("hold ended with %v", h.Err())
	}
	h.Settle(usage(2 * wattfare.Cent))
	if _, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent}); code(err) != wattfare.EConnectionRevoked {
		t.Fatalf("admitted after resync: %v", err)
	}
	v.quiesce(e)
}

// poisonLedger rejects, for good, any batch holding req_poison.
type poisonLedger struct{ *postgres.Ledger }

func (p poisonLedger) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	for _, s := range ss {
		if s.RequestID == "req_poison" {
			return fmt.Errorf("check violated: %w", wattfare.ErrRejected)
		}
	}
	return p.Ledger.Commit(ctx, ss, rel)
}

func TestRejectedSettlementDoesNotStallBilling(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	e, err := spend.New(spend.Config{SpoolDir: v.spool, Logger: quiet}, poisonLedger{postgres.NewLedger(v.pool)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		id := reqID()
		if i == 2 {
			id = "req_poison"
		}
		h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: id, Amount: 10 * wattfare.Cent})
		if err != nil {
			t.Fatal(err)
		}
		h.Settle(usage(5 * wattfare.Cent))
	}
	v.quiesce(e)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 25*wattfare.Cent {
		t.Fatalf("captured %s, want the five good settlements (0.25)", got)
	}
	b, err := os.ReadFile(filepath.Join(v.spool, "rejected.jsonl"))
	if err != nil || !strings.Contains(string(b), "req_poison") {
		t.Fatalf("rejected.jsonl: %q, %v", b, err)
	}
}

// TestRevokeRacingAdmissions revokes while three processes admit as fast as
// they can: once the revoke returns, nothing is admitted any more, and every
// hold still open sees Done close.
func TestRevokeRacingAdmissions(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(100), wattfare.USD(100))
	engines := []*spend.Engine{v.engine(nil), v.engine(nil), v.engine(nil)}
	v.listen(engines...)
	var returned atomic.Bool
	var lateAdmits, admitted, triedAfter atomic.Int64
	var mu sync.Mutex
	var open []*spend.Hold
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[i%3]
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := returned.Load()
				h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
				if after {
					triedAfter.Add(1)
				}
				if err != nil {
					continue
				}
				admitted.Add(1)
				if after {
					lateAdmits.Add(1)
				}
				if i%2 == 0 {
					h.Settle(usage(wattfare.Cent / 2))
				} else {
					mu.Lock()
					open = append(open, h)
					mu.Unlock()
				}
			}
		}()
	}
	// The revoke lands while every process is admitting.
	waitFor(t, "admissions under way on all three processes", func() bool { return admitted.Load() >= 300 })
	if _, err := v.pool.Exec(context.Background(), `UPDATE connections SET status = 'revoked' WHERE id = $1`, f.ConnectionID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Streams end (and settle) when Done closes, as the proxy does.
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			mu.Lock()
			hs := open
			open = nil
			mu.Unlock()
			for _, h := range hs {
				select {
				case <-h.Done():
					h.Settle(usage(wattfare.Cent / 2))
				case <-time.After(3 * time.Second):
					t.Errorf("a hold was never told of the revoke")
					return
				}
			}
			select {
			case <-stop:
				mu.Lock()
				n := len(open)
				mu.Unlock()
				if n == 0 {
					return
				}
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	if err := invariants.AwaitLeasesReleased(ctx, v.pool, postgres.LeaseScope{ConnectionID: f.ConnectionID}); err != nil {
		t.Fatal(err)
	}
	returned.Store(true)
	// Every client tries again after the revoke returned, many times.
	waitFor(t, "admissions tried after the revoke returned", func() bool { return triedAfter.Load() >= 12*20 })
	close(stop)
	wg.Wait()
	<-ended
	if n := lateAdmits.Load(); n > 0 {
		t.Fatalf("%d admissions after the revoke returned", n)
	}
	v.check()
	v.quiesce(engines...)
}

func TestRolledKeyStopsAtItsExpiry(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	e := v.engine(nil) // no listener: the expiry needs no notification
	if _, err := v.pool.Exec(context.Background(), `UPDATE api_keys SET expires_at = now() + interval '1 second' WHERE id = $1`, f.KeyID); err != nil {
		t.Fatal(err)
	}
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	h.Settle(usage(wattfare.Cent))
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: wattfare.Cent})
		if code(err) == wattfare.EInvalidAPIKey {
			break
		}
		if err != nil {
			t.Fatalf("got %v, want invalid_api_key once the key expired", err)
		}
		h.Release()
		if time.Now().After(deadline) {
			t.Fatal("still admitting with an expired key")
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.quiesce(e)
}

func TestCapLoweredWhileSpending(t *testing.T) {
	t.Parallel()
	v := setup(t)
	f := v.fixture(wattfare.USD(10), wattfare.USD(20))
	e := v.engine(nil) // the process has not heard of the change yet
	h, err := e.Admit(context.Background(), payer(f), spend.Admission{RequestID: reqID(), Amount: 50 * wattfare.Cent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.pool.Exec(context.Background(), `UPDATE connections SET monthly_cap = $2 WHERE id = $1`, f.ConnectionID, int64(30*wattfare.Cent)); err != nil {
		t.Fatal(err)
	}
	v.check() // captured + held <= the new cap at once
	h.Settle(usage(50 * wattfare.Cent))
	e.Invalidate(wattfare.ChangeEvent{Entity: wattfare.EntityConnection, ID: f.ConnectionID})
	v.quiesce(e)
	if got := v.captured(f, wattfare.PeriodStart(time.Now())); got != 30*wattfare.Cent {
		t.Fatalf("captured %s, want it stopped at the lowered cap 0.30", got)
	}
}

// waitFor polls an observable condition until it holds, failing the test
// after a generous deadline: a synchronisation point, not a timed sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
