package dataplane

import (
	"math/rand/v2"
	"testing"
)

// nextEvent's fast path finds the same event ends as the byte-wise walk,
// whatever mix of line ends the upstream sends.
func TestNextEventMatchesWalk(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab:\n\n\r")
	for i := 0; i < 200000; i++ {
		b := make([]byte, r.IntN(12))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		if got, want := nextEvent(b), nextEventSlow(b); got != want {
			t.Fatalf("nextEvent(%q) = %d, the walk says %d", b, got, want)
		}
	}
}
