package dataplane

import (
	"sync"
	"sync/atomic"
	"time"
)

// rateLimiter limits requests per second per name (a key id, a connection
// id) with the generic cell rate algorithm: one atomic "theoretical arrival
// time" per name, no goroutine, no allocation once a name is known. A zero
// rate allows everything.
type rateLimiter struct {
	interval int64 // ns between requests at the sustained rate
	slack    int64 // how far ahead of now the arrival time may run: the burst
	cells    sync.Map
	n        atomic.Int64
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	iv := int64(float64(time.Second) / perSecond)
	return &rateLimiter{interval: iv, slack: iv * int64(burst-1)}
}

// allow reports whether name may make a request now, and if not, how long
// until it may.
func (l *rateLimiter) allow(name string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	v, ok := l.cells.Load(name)
	if !ok {
		if l.n.Add(1) > 1_000_000 { // bound memory: forget everyone, rarely
			l.cells.Clear()
			l.n.Store(0)
		}
		v, _ = l.cells.LoadOrStore(name, new(atomic.Int64))
	}
	tat := v.(*atomic.Int64)
	t := now.UnixNano()
	for {
		cur := tat.Load()
		next := max(cur, t)
		if next-t > l.slack {
			return false, time.Duration(next - t - l.slack)
		}
		if tat.CompareAndSwap(cur, next+l.interval) {
			return true, 0
		}
	}
}
