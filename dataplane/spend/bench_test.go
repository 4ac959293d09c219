package spend_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// memLedger grants every lease in full and commits into counters: the
// benchmarks measure the engine, not Postgres.
type memLedger struct {
	grants, commits, settled atomic.Int64
}

func (m *memLedger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	m.grants.Add(1)
	return wattfare.LeaseGrant{Granted: r.Amount, ExpiresAt: time.Now().Add(r.TTL), Cap: wattfare.USD(1000)}, nil
}

func (m *memLedger) Commit(ctx context.Context, ss []wattfare.Settlement, rel []string) error {
	m.commits.Add(1)
	m.settled.Add(int64(len(ss)))
	return nil
}
func (m *memLedger) ReleaseProcessLeases(context.Context, string) (int, error) { return 0, nil }
func (m *memLedger) AbandonProcess(context.Context, string) (wattfare.Money, error) {
	return 0, nil
}
func (m *memLedger) CheckPayers(ctx context.Context, c []wattfare.PayerCheck) ([]wattfare.PayerState, error) {
	return make([]wattfare.PayerState, len(c)), nil
}
func (m *memLedger) ShrinkLease(ctx context.Context, id string, a wattfare.Money) (wattfare.Money, error) {
	return a, nil
}
func (m *memLedger) AnnouncePressure(context.Context, string) error { return nil }
func (m *memLedger) Budget(context.Context, string, time.Time) (wattfare.Budget, error) {
	return wattfare.Budget{}, nil
}

func benchEngine(b *testing.B) (*spend.Engine, *memLedger) {
	m := &memLedger{}
	e, err := spend.New(spend.Config{SpoolDir: b.TempDir(), Logger: quiet, MaxLease: wattfare.USD(100)}, m)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	return e, m
}

var benchPayer = spend.Payer{ConnectionID: "conn_bench", AccountID: "acct_bench", AppID: "app_bench",
	KeyID: "key_bench", AppUserID: "u", Mode: wattfare.ModeTest, MonthlyCap: wattfare.USD(1000)}

// BenchmarkAdmitRelease is the in-memory admission alone.
func BenchmarkAdmitRelease(b *testing.B) {
	e, _ := benchEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, err := e.Admit(ctx, benchPayer, spend.Admission{RequestID: "req", Amount: wattfare.Cent})
			if err != nil {
				b.Fatal(err)
			}
			h.Release()
		}
	})
}

// BenchmarkAdmitSettle is a request's whole spend path: admit, grow once,
// settle (spool write, then the group commit in the background).
func BenchmarkAdmitSettle(b *testing.B) {
	e, m := benchEngine(b)
	ctx := context.Background()
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "req_" + strconv.Itoa(i)
	}
	u := wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", Endpoint: "chat", Status: "ok",
		PromptTokens: 10, CompletionTokens: 20, Cost: 500 * wattfare.NanoDollar}
	b.ReportAllocs()
	b.ResetTimer()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			h, err := e.Admit(ctx, benchPayer, spend.Admission{RequestID: ids[i%1024], Amount: wattfare.Cent})
			if err != nil {
				b.Fatal(err)
			}
			h.Grow(2 * wattfare.Cent)
			h.Settle(u)
		}
	})
	b.StopTimer()
	e.Close(ctx)
	if b.N > 1000 {
		b.ReportMetric(float64(m.commits.Load())*1000/float64(b.N), "commits/1k")
		b.ReportMetric(float64(m.grants.Load())*1000/float64(b.N), "grants/1k")
	}
}
