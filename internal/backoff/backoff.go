// Package backoff spaces out retries: exponentially growing waits, capped,
// each shortened by a random part so that processes that failed together
// (a Postgres restart drops every data-plane listener at once) do not all
// retry at the same instant. It uses only the standard library, so that any
// package, the data plane's hot path included, may import it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out the waits of one retry loop: Initial, then twice as
// long each time up to Max, each less up to half of it at random (equal
// jitter: the n-th wait is in [d/2, d] for d = min(Initial·2ⁿ, Max)).
// Reset starts over after a success. A Backoff is not safe for concurrent
// use; give each loop its own.
type Backoff struct {
	// Initial is the first wait before jitter (default 50 ms).
	Initial time.Duration
	// Max caps every wait (default 5 s).
	Max time.Duration

	n int // waits handed out since the last Reset
}

// Default waits when a field is zero.
const (
	DefaultInitial = 50 * time.Millisecond
	DefaultMax     = 5 * time.Second
)

// Next returns the wait before the next attempt and counts it.
func (b *Backoff) Next() time.Duration {
	d := b.ceiling()
	b.n++
	if d <= 1 {
		return d
	}
	half := d / 2
	return d - time.Duration(rand.Int64N(int64(half)+1))
}

// ceiling is the current wait before jitter: Initial·2ⁿ, at most Max.
func (b *Backoff) ceiling() time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultInitial
	}
	if max <= 0 {
		max = DefaultMax
	}
	if initial >= max {
		return max
	}
	d := initial
	for i := 0; i < b.n; i++ {
		if d >= max/2 {
			return max
		}
		d *= 2
	}
	return d
}

// Reset makes the next wait Initial's again, after an attempt succeeded.
func (b *Backoff) Reset() { b.n = 0 }

// Attempts returns how many waits Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.n }

// Wait sleeps for Next(), or until ctx ends, when it returns ctx's error.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
