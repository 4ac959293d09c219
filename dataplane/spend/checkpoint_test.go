package spend_test

import (
	"context"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// BenchmarkCheckpoint is what a stream pays per SSE event to make its
// delivered spend survive a kill: one Checkpoint on an open hold (its slot
// already claimed). It must not allocate.
func BenchmarkCheckpoint(b *testing.B) {
	e, _ := benchEngine(b)
	h, err := e.Admit(context.Background(), benchPayer, spend.Admission{RequestID: "req_bench", Amount: wattfare.USD(1)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Release()
	u := wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", Endpoint: "chat", Stream: true,
		PromptTokens: 10}
	h.Checkpoint(&u)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u.CompletionTokens = int64(i)
		u.Cost = wattfare.Money(i) * 2000
		h.Checkpoint(&u)
	}
}

// BenchmarkCheckpointStream is a whole stream's checkpoint cost: the
// claim of a slot on the first event, 100 more events, and the slot freed
// when the hold is released, on parallel streams.
func BenchmarkCheckpointStream(b *testing.B) {
	e, _ := benchEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		u := wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", Endpoint: "chat", Stream: true, PromptTokens: 10}
		for pb.Next() {
			h, err := e.Admit(context.Background(), benchPayer, spend.Admission{RequestID: "req_bench", Amount: wattfare.Cent})
			if err != nil {
				b.Fatal(err)
			}
			for i := range 101 {
				u.CompletionTokens = int64(i)
				u.Cost = wattfare.Money(i) * 2000
				h.Checkpoint(&u)
			}
			h.Release()
		}
	})
}
