// Package metric holds the few instruments the request path records into:
// fixed-bucket histograms and counters on atomics, so that recording takes
// no lock, no label lookup and no allocation. Exporters (Prometheus, in
// cmd/wattfare) read them when scraped.
package metric

import (
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms: from a millisecond (the proxy's own overhead) to a minute (a
// long generation).
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Histogram counts observations into fixed buckets. The zero value is not
// usable: make one with NewHistogram.
type Histogram struct {
	bounds []float64 // upper bounds, ascending
	scaled []int64   // bounds in the unit of Observe's argument
	counts []atomic.Uint64
	sum    atomic.Int64 // in the unit of Observe's argument
	scale  float64      // from that unit to the exported one
}

// NewHistogram returns a histogram with the given upper bounds; values
// passed to Observe are in units of 1/scale of a bound (scale 1e9: Observe
// takes nanoseconds, bounds are seconds).
func NewHistogram(bounds []float64, scale float64) *Histogram {
	h := &Histogram{bounds: bounds, scaled: make([]int64, len(bounds)), counts: make([]atomic.Uint64, len(bounds)+1), scale: scale}
	for i, b := range bounds {
		h.scaled[i] = int64(b * scale)
	}
	return h
}

// NewLatency returns a histogram of durations over LatencyBuckets.
func NewLatency() *Histogram { return NewHistogram(LatencyBuckets, 1e9) }

// Observe records v (in 1/scale units).
func (h *Histogram) Observe(v int64) {
	i := 0
	for i < len(h.scaled) && v > h.scaled[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// ObserveDuration records d in a histogram made by NewLatency.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(int64(d)) }

// Snapshot is a histogram as exported: cumulative counts per upper bound.
type Snapshot struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64 // upper bound -> observations at or under it
}

// Snapshot reads the histogram. Concurrent observations may be half in
// it (counted but not summed); the next scrape has them whole.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Buckets: make(map[float64]uint64, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		s.Buckets[b] = cum
	}
	s.Count = cum + h.counts[len(h.bounds)].Load()
	s.Sum = float64(h.sum.Load()) / h.scale
	return s
}

// Counters is a set of counters named by a small, bounded set of strings
// (codes, limit sources): recording one that exists is a sync.Map read, and
// beyond Max names new ones count under Other, so that no input can grow it.
type Counters struct {
	Max int // names kept before Other takes the rest; 0 means 64
	m   sync.Map
	n   atomic.Int64
}

// Other is the name that counts what Counters does not name.
const Other = "other"

// Add adds d to name's counter.
func (c *Counters) Add(name string, d uint64) {
	if v, ok := c.m.Load(name); ok {
		v.(*atomic.Uint64).Add(d)
		return
	}
	max := c.Max
	if max == 0 {
		max = 64
	}
	if c.n.Load() >= int64(max) {
		name = Other
	}
	v, loaded := c.m.LoadOrStore(name, new(atomic.Uint64))
	if !loaded {
		c.n.Add(1)
	}
	v.(*atomic.Uint64).Add(d)
}

// Each calls f with every name and its count.
func (c *Counters) Each(f func(name string, n uint64)) {
	c.m.Range(func(k, v any) bool {
		f(k.(string), v.(*atomic.Uint64).Load())
		return true
	})
}
