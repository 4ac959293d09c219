package dataplane_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// eventually retries f until it reports true: notifications arrive
// asynchronously.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestCacheInvalidation: what the data plane caches (and the misses it
// remembers) changes as soon as the change notification arrives.
func TestCacheInvalidation(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("NewConnection", func(t *testing.T) {
		resp, _ := e.call("POST", "/v1/chat/completions", "late", chatBody("hi", ""))
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		e.connect("late", wattfare.USD(1))
		eventually(t, "the new connection is seen", func() bool {
			resp, _ := e.call("POST", "/v1/chat/completions", "late", chatBody("hi", ""))
			return resp.StatusCode == 200
		})
	})

	t.Run("NewKey", func(t *testing.T) {
		sk := wattfare.NewSecretKey(wattfare.ModeTest)
		old := e.key
		e.key = sk.String()
		defer func() { e.key = old }()
		resp, _ := e.call("GET", "/v1/models", "", "")
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		e.addKey(sk, "x")
		eventually(t, "the new key is accepted", func() bool {
			resp, _ := e.call("GET", "/v1/models", "", "")
			return resp.StatusCode == 200
		})
	})

	t.Run("PriceChange", func(t *testing.T) {
		e.call("GET", "/v1/models", "", "")
		e.exec(`UPDATE models SET prompt_price = 3000000 WHERE id = 'sandbox/echo'`)
		eventually(t, "the new price is listed", func() bool {
			_, body := e.call("GET", "/v1/models", "", "")
			return strings.Contains(string(body), `"prompt":"0.000003"`)
		})
	})

	t.Run("ErrModelDisabled", func(t *testing.T) {
		e.exec(`UPDATE models SET enabled = false WHERE id = 'sandbox/pricey'`)
		eventually(t, "the disabled model is refused", func() bool {
			resp, _ := e.call("POST", "/v1/chat/completions", "u1", `{"model":"sandbox/pricey","messages":[]}`)
			return resp.StatusCode == 404
		})
	})
}

// TestReconnectDropsCache: notifications sent while the listener is away
// are lost, so after it reconnects nothing cached before is trusted.
func TestReconnectDropsCache(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if resp, _ := e.call("GET", "/v1/models", "", ""); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Revoke the key without a notification, as if it was sent while the
	// listener was disconnected.
	e.exec(`ALTER TABLE api_keys DISABLE TRIGGER api_keys_notify`)
	e.exec(`UPDATE api_keys SET revoked_at = now()`)
	e.exec(`ALTER TABLE api_keys ENABLE TRIGGER api_keys_notify`)
	if resp, _ := e.call("GET", "/v1/models", "", ""); resp.StatusCode != 200 {
		t.Fatalf("the cache did not hold the key: status %d", resp.StatusCode)
	}
	before := e.reconnects.Load()
	e.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`)
	eventually(t, "the listener reconnects", func() bool { return e.reconnects.Load() > before })
	if resp, body := e.call("GET", "/v1/models", "", ""); resp.StatusCode != 401 {
		t.Errorf("after the reconnect: %d %s", resp.StatusCode, body)
	}
}
