package controlplane

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	from := func(addr string) context.Context {
		return context.WithValue(context.Background(), exchangeKey{}, &exchange{w: httptest.NewRecorder(), client: addr})
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
		ctx := from("198.51.100.7")
		for i := range int(signInPerEmail.burst) {
			if err := attempt(th, ctx, "signIn", "a@example.com", false); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		err := attempt(th, ctx, "signIn", "A@Example.com ", false)
		if wattfare.ErrorCode(err) != wattfare.ERateLimited {
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
		if err := attempt(th, ctx, "signIn", "a@example.com", false); wattfare.ErrorCode(err) != wattfare.ERateLimited {
			t.Fatalf("one refill, two attempts: %v", err)
		}
	})
	t.Run("SuccessfulSignInsAreNotCounted", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.8")
		for i := range 3 * int(signInPerEmail.burst) {
			if err := attempt(th, ctx, "signIn", "b@example.com", true); err != nil {
				t.Fatalf("successful sign-in %d: %v", i+1, err)
			}
		}
	})
	t.Run("SignUpsCountEvenWhenTheySucceed", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.9")
		for range int(signUpPerEmail.burst) {
			if err := attempt(th, ctx, "signUp", "c@example.com", true); err != nil {
				t.Fatal(err)
			}
		}
		if err := attempt(th, ctx, "signUp", "c@example.com", true); wattfare.ErrorCode(err) != wattfare.ERateLimited {
			t.Fatalf("sign-up past the burst = %v", err)
		}
	})
	t.Run("ErrRateLimitedPerIPAcrossEmails", func(t *testing.T) {
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.10")
		for i := range int(attemptsPerIP.burst) {
			email := "spray" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com"
			if err := attempt(th, ctx, "signIn", email, false); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		if err := attempt(th, ctx, "signIn", "fresh@example.com", false); wattfare.ErrorCode(err) != wattfare.ERateLimited {
			t.Fatalf("spraying past the per-IP burst = %v", err)
		}
		if err := attempt(th, from("203.0.113.1"), "signIn", "fresh@example.com", false); err != nil {
			t.Fatalf("another IP: %v", err)
		}
	})
	t.Run("ErrRateLimitedWhileAttemptsAreInFlight", func(t *testing.T) {
		// A guesser sending attempts all at once: each is counted from the
		// moment it is let through, not when its password check ends.
		th := newAuthThrottle(func() time.Time { return at })
		ctx := from("198.51.100.11")
		var dones []func(bool)
		for i := range signInPerEmail.burst {
			done, err := th.Begin(ctx, "signIn", "d@example.com")
			if err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
			dones = append(dones, done)
		}
		if _, err := th.Begin(ctx, "signIn", "d@example.com"); wattfare.ErrorCode(err) != wattfare.ERateLimited {
			t.Fatalf("attempt past the burst while the others run = %v", err)
		}
		dones[0](true) // one of them was the right password
		if err := attempt(th, ctx, "signIn", "d@example.com", false); err != nil {
			t.Fatalf("after a success gave its attempt back: %v", err)
		}
		for _, done := range dones[1:] {
			done(false)
		}
		if _, err := th.Begin(ctx, "signIn", "d@example.com"); wattfare.ErrorCode(err) != wattfare.ERateLimited {
			t.Fatalf("after the failures were charged = %v", err)
		}
	})
	t.Run("MemoryBounded", func(t *testing.T) {
		now := at
		th := newAuthThrottle(func() time.Time { return now })
		for i := range 50 {
			attempt(th, from("192.0.2."+string(rune('0'+i%10))), "signIn", string(rune('a'+i))+"@example.com", false)
		}
		inFlight, err := th.Begin(from("192.0.2.100"), "signIn", "y@example.com")
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour) // every bucket has refilled
		attempt(th, from("192.0.2.200"), "signIn", "z@example.com", false)
		if n := len(th.buckets); n != 4 {
			t.Fatalf("%d buckets kept after an hour, want only the last attempt's 2 and the 2 of the attempt in flight", n)
		}
		inFlight(false)
	})
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 ,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		"OKNoProxiesIgnoresHeader":     {"198.51.100.1:4000", []string{"203.0.113.5"}, nil, "198.51.100.1"},
		"OKUntrustedPeerIgnoresHeader": {"198.51.100.1:4000", []string{"203.0.113.5"}, proxies, "198.51.100.1"},
		"OKTrustedPeer":                {"10.1.2.3:4000", []string{"203.0.113.5"}, proxies, "203.0.113.5"},
		"OKRightMostUntrusted":         {"10.1.2.3:4000", []string{"1.1.1.1, 203.0.113.5, 192.0.2.7"}, proxies, "203.0.113.5"},
		"OKSeveralHeaders":             {"192.0.2.7:4000", []string{"1.1.1.1", "203.0.113.5, 10.9.9.9"}, proxies, "203.0.113.5"},
		"OKSpoofedLeftIgnored":         {"10.1.2.3:4000", []string{"10.0.0.1, 203.0.113.5"}, proxies, "203.0.113.5"},
		"OKEntryWithPort":              {"10.1.2.3:4000", []string{"203.0.113.5:5555"}, proxies, "203.0.113.5"},
		"OKIPv6":                       {"[fd00::1]:4000", []string{"2001:db8::5"}, proxies, "2001:db8::5"},
		"OKMappedIPv4Peer":             {"[::ffff:10.1.2.3]:4000", []string{"203.0.113.5"}, proxies, "203.0.113.5"},
		"OKAllTrustedIsTheFirstHop":    {"10.1.2.3:4000", []string{"10.0.0.9, 10.0.0.8"}, proxies, "10.0.0.9"},
		"OKTrustedPeerNoHeader":        {"10.1.2.3:4000", nil, proxies, "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/graphql", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, tc.trusted); got != tc.want {
			t.Errorf("%s: client %q, want %q", name, got, tc.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/8"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", bad)
		}
	}
}
