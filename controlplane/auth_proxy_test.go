package controlplane_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/controlplane"
)

// TestSignInLimitsBehindTrustedProxy: behind a trusted reverse proxy every
// client has limits of its own (the proxy's X-Forwarded-For names it); a
// client that reaches the control plane directly cannot shed its limit by
// writing X-Forwarded-For itself.
func TestSignInLimitsBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	h := setupWith(t, func(c *controlplane.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	signIn := func(peer, xff string) string {
		t.Helper()
		q := `mutation { signIn(input: {email: "victim@example.com", password: "not the password"}) { account { id } } }`
		r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q)))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		var resp struct{ Errors []gqlError }
		json.Unmarshal(h.serve(r).Body.Bytes(), &resp)
		if len(resp.Errors) == 0 {
			t.Fatalf("a wrong password signed in")
		}
		return resp.Errors[0].code()
	}
	const burst = 10 // sign-in attempts per client and email
	for i := range burst {
		if code := signIn("10.0.0.1:40000", "203.0.113.5"); code != "UNAUTHENTICATED" {
			t.Fatalf("attempt %d via the proxy: %s", i+1, code)
		}
	}
	if code := signIn("10.0.0.1:40001", "203.0.113.5"); code != "RATE_LIMITED" {
		t.Fatalf("attempt past the limit via the proxy: %s, want %s", code, "RATE_LIMITED")
	}
	if code := signIn("10.0.0.1:40002", "203.0.113.6"); code != "UNAUTHENTICATED" {
		t.Fatalf("another client behind the same proxy: %s, want its own limit", code)
	}
	if code := signIn("10.0.0.1:40003", "203.0.113.5, 10.0.0.2"); code != "RATE_LIMITED" {
		t.Fatalf("the limited client through two proxies: %s, want %s", code, "RATE_LIMITED")
	}

	for i := range burst {
		if code := signIn("198.51.100.9:50000", fmt.Sprintf("192.0.2.%d", i)); code != "UNAUTHENTICATED" {
			t.Fatalf("direct attempt %d: %s", i+1, code)
		}
	}
	if code := signIn("198.51.100.9:50001", "192.0.2.99"); code != "RATE_LIMITED" {
		t.Fatalf("direct attempt with a fresh forged X-Forwarded-For: %s, want %s", code, "RATE_LIMITED")
	}
}
