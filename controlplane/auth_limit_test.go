package controlplane

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	from := func(addr string) context.Context {
		return context.WithValue(context.Background(), exchangeKey{}, &exchange{w: httptest.NewRecorder(), remoteAddr: addr})
	}
	attempt := func(th *authThrottle, ctx context.Context, action, email string, ok bool) error {
		done, err := th.Begin(ctx, action, email)
		if err == nil {
			done(ok)
		}
		return err
	}

	t.Run("ErrRateLimitedRefillsOverTime", func(t *testing.T) {
		now := at
		th := newAuthThrottle(func() time.Time { return now })
		ctx := from("198.51.100.7:4000")
		for i := range int(signInPerEmail.burst) {
			if err := attempt(th, ctx, "signIn", "a@example.com", false); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		err := attempt(th, ctx, "signIn", "A@Example.com ", false)
		if wattfare.ErrorCode(err) != CodeRateLimited {
			t.Fatalf("attempt past the burst = %v", err)
		}
		var we *wattfare.Error
		errors.As(err, &we)
		if we.Metadata["retryAfterSeconds"] != int(signInPerEmail.every.Seconds()) {
			t.Fatalf("retryAfterSeconds = %v", we.Metadata)
		}
		now = now.Add(signInPerEmail.every)
		if err := attempt(th, ctx, "signIn", "a@example.com", false); err != nil {
			t.Fatalf("after the refill: %v", err)
		}
		if err := attempt(th, ctx, "signIn", "a@example.com", false); wattfare.ErrorCode(err) != CodeRateLimited {
			t.Fatalf("one refill, two attempts: %v", err)
		}
	})
	t.Run("SuccessfulSignInsAreNotCounted", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.8:4000")
		for i := range 3 * int(signInPerEmail.burst) {
			if err := attempt(th, ctx, "signIn", "b@example.com", true); err != nil {
				t.Fatalf("successful sign-in %d: %v", i+1, err)
			}
		}
	})
	t.Run("SignUpsCountEvenWhenTheySucceed", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.9:4000")
		for range int(signUpPerEmail.burst) {
			if err := attempt(th, ctx, "signUp", "c@example.com", true); err != nil {
				t.Fatal(err)
			}
		}
		if err := attempt(th, ctx, "signUp", "c@example.com", true); wattfare.ErrorCode(err) != CodeRateLimited {
			t.Fatalf("sign-up past the burst = %v", err)
		}
	})
	t.Run("ErrRateLimitedPerIPAcrossEmails", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.10:4000")
		for i := range int(attemptsPerIP.burst) {
			email := "spray" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com"
			if err := attempt(th, ctx, "signIn", email, false); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		if err := attempt(th, ctx, "signIn", "fresh@example.com", false); wattfare.ErrorCode(err) != CodeRateLimited {
			t.Fatalf("spraying past the per-IP burst = %v", err)
		}
		if err := attempt(th, from("203.0.113.1:1"), "signIn", "fresh@example.com", false); err != nil {
			t.Fatalf("another IP: %v", err)
		}
	})
	t.Run("MemoryBounded", func(t *testing.T) {
		now := at
		th := newAuthThrottle(func() time.Time { return now })
		for i := range 50 {
			attempt(th, from("192.0.2."+string(rune('0'+i%10))+":1"), "signIn", string(rune('a'+i))+"@example.com", false)
		}
		now = now.Add(time.Hour) // every bucket has refilled
		attempt(th, from("192.0.2.200:1"), "signIn", "z@example.com", false)
		if n := len(th.buckets); n != 2 {
			t.Fatalf("%d buckets kept after an hour, want only the last attempt's 2", n)
		}
	})
}
