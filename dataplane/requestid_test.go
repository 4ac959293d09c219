package dataplane

import (
	"strings"
	"testing"
	"time"
)

// Request ids sort by admission time (the usage ledger's key then grows at
// its end) and stay unique within a millisecond.
func TestRequestIDOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		id := requestIDAt(at.Add(time.Duration(i/4) * time.Millisecond))
		if len(id) != 28 || !strings.HasPrefix(id, "req_") {
			t.Fatalf("id %q: want req_ and 24 symbols", id)
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
		if i%4 == 0 && id[:12] <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		prev = id[:12]
	}
	if a, b := requestIDAt(time.Date(2058, 1, 1, 0, 0, 0, 0, time.UTC)), requestIDAt(at); a <= b {
		t.Fatalf("%q sorts before %q", a, b)
	}
}
