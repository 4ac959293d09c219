package metric

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	h := NewLatency()
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Minute} {
		h.ObserveDuration(d)
	}
	s := h.Snapshot()
	if s.Count != 4 {
		t.Errorf("count %d, want 4", s.Count)
	}
	// A bound is inclusive: 1 ms falls in the 0.001 bucket.
	if s.Buckets[0.001] != 2 || s.Buckets[0.005] != 3 || s.Buckets[60] != 3 {
		t.Errorf("buckets %v", s.Buckets)
	}
	if want := 0.0005 + 0.001 + 0.003 + 120; s.Sum < want-1e-9 || s.Sum > want+1e-9 {
		t.Errorf("sum %v, want %v", s.Sum, want)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	t.Parallel()
	h := NewHistogram([]float64{10, 100}, 1)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(int64(i % 200))
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count != 8000 || s.Buckets[10] != 8*5*11 || s.Buckets[100] != 8*5*101 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestCountersBounded(t *testing.T) {
	t.Parallel()
	c := &Counters{Max: 3}
	for i := 0; i < 10; i++ {
		c.Add("name"+strconv.Itoa(i), 1)
	}
	c.Add("name0", 5)
	got := map[string]uint64{}
	c.Each(func(n string, v uint64) { got[n] = v })
	if len(got) != 4 || got["name0"] != 6 || got[Other] != 7 {
		t.Errorf("counters %v, want three names and other=7", got)
	}
}
