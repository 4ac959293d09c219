package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare/internal/backoff"
)

// within checks that every wait is in [ceiling/2, ceiling].
func within(t *testing.T, b *backoff.Backoff, ceilings ...time.Duration) {
	t.Helper()
	for i, c := range ceilings {
		if d := b.Next(); d < c/2 || d > c {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i, d, c/2, c)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	t.Run("OK", func(t *testing.T) {
		for range 200 { // jitter is random: many draws
			b := &backoff.Backoff{Initial: 10 * ms, Max: 100 * ms}
			within(t, b, 10*ms, 20*ms, 40*ms, 80*ms, 100*ms, 100*ms, 100*ms)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		var b backoff.Backoff
		within(t, &b, backoff.DefaultInitial, 2*backoff.DefaultInitial)
		for range 100 {
			b.Next()
		}
		within(t, &b, backoff.DefaultMax)
	})
	t.Run("Reset", func(t *testing.T) {
		b := &backoff.Backoff{Initial: 10 * ms, Max: time.Second}
		within(t, b, 10*ms, 20*ms, 40*ms)
		if b.Attempts() != 3 {
			t.Fatalf("Attempts = %d, want 3", b.Attempts())
		}
		b.Reset()
		if b.Attempts() != 0 {
			t.Fatalf("Attempts after Reset = %d, want 0", b.Attempts())
		}
		within(t, b, 10*ms)
	})
	t.Run("InitialAboveMax", func(t *testing.T) {
		b := &backoff.Backoff{Initial: time.Second, Max: 10 * ms}
		within(t, b, 10*ms, 10*ms)
	})
	t.Run("NoOverflow", func(t *testing.T) {
		b := &backoff.Backoff{Initial: time.Nanosecond, Max: time.Duration(1<<63 - 1)}
		prev := time.Duration(0)
		for range 200 {
			c := b.Next()
			if c < 0 {
				t.Fatalf("wait overflowed: %v", c)
			}
			prev = c
		}
		if prev < time.Duration(1<<62)/2 {
			t.Fatalf("last wait %v did not reach the cap's range", prev)
		}
	})
	t.Run("Jitter", func(t *testing.T) {
		// Waits of equal ceilings differ: processes that failed together
		// do not retry together.
		seen := map[time.Duration]bool{}
		for range 50 {
			b := &backoff.Backoff{Initial: time.Second, Max: time.Second}
			seen[b.Next()] = true
		}
		if len(seen) < 10 {
			t.Fatalf("50 waits took %d distinct values, want jitter", len(seen))
		}
	})
}

func TestWait(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		b := &backoff.Backoff{Initial: 2 * time.Millisecond, Max: 2 * time.Millisecond}
		start := time.Now()
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Millisecond {
			t.Fatalf("waited %v, want at least 1ms", d)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		b := &backoff.Backoff{Initial: time.Hour, Max: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Wait(ctx); err != context.Canceled {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	})
}
