package spend_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// BenchmarkSettlePostgres is settlement end to end on Postgres: admit,
// settle, and the group commits of the engine's batcher, with ids that sort
// by time as the data plane's do. Besides time per settlement it reports
// the CPU that the database's backends spent per settlement (pg-µs/op),
// read from /proc: on a machine whose cores the proxy shares with
// Postgres, that is what bounds throughput.
//
//	go test -run '^$' -bench BenchmarkSettlePostgres -benchtime 20000x ./dataplane/spend/
func BenchmarkSettlePostgres(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	f, err := invariants.NewFixture(ctx, pool, wattfare.USD(1_000_000), wattfare.USD(1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	l := &countingLedger{Ledger: postgres.NewLedger(pool)}
	e, err := spend.New(spend.Config{SpoolDir: b.TempDir(), Logger: quiet}, l)
	if err != nil {
		b.Fatal(err)
	}
	p := spend.Payer{ConnectionID: f.ConnectionID, AccountID: f.AccountID, AppID: f.AppID, KeyID: f.KeyID,
		AppUserID: f.AppUserID, Mode: f.Mode, MonthlyCap: f.Cap}
	u := wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", UpstreamID: "chatcmpl-bench", Endpoint: "chat", Status: "ok",
		PromptTokens: 8, CompletionTokens: 5, Cost: 18 * wattfare.NanoDollar * 1000, Duration: 3 * time.Millisecond}
	prefix := "req_" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	var n atomic.Int64
	pg := backendTicks(ctx, b, pool)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			h, err := e.Admit(ctx, p, spend.Admission{RequestID: fmt.Sprintf("%s%010d", prefix, i), Amount: wattfare.Cent, At: time.Now()})
			if err != nil {
				b.Error(err)
				return
			}
			h.Settle(u)
		}
	})
	if err := e.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	ticks := backendTicks(ctx, b, pool) - pg
	b.ReportMetric(float64(ticks)*1e4/float64(b.N), "pg-µs/op")
	b.ReportMetric(float64(l.commits.Load())*1000/float64(b.N), "commits/1k")
	b.ReportMetric(float64(l.grants.Load())*1000/float64(b.N), "grants/1k")
	var settled int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM usage_events WHERE connection_id = $1`, f.ConnectionID).Scan(&settled); err != nil || settled != int64(b.N) {
		b.Fatalf("settled %d of %d (%v)", settled, b.N, err)
	}
}

type countingLedger struct {
	*postgres.Ledger
	grants, commits atomic.Int64
}

func (l *countingLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	l.grants.Add(1)
	return l.Ledger.GrantLease(ctx, r)
}

func (l *countingLedger) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	l.commits.Add(1)
	return l.Ledger.Commit(ctx, ss, rel)
}

// backendTicks sums the CPU ticks (1/100 s) of the database's backends.
func backendTicks(ctx context.Context, b *testing.B, pool *pgxpool.Pool) int64 {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			b.Skip("no /proc for the database's backends: is Postgres on another machine?")
		}
		s := string(st)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		sy, _ := strconv.ParseInt(fields[12], 10, 64)
		total += ut + sy
	}
	return total
}
