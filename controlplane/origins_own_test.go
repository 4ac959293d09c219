package controlplane

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

// TestDevOrigin: in test mode a developer's app on any loopback port
// counts as the app's, except Wattfare's own consent page and data plane,
// which under `wattfare dev` are on loopback origins too.
func TestDevOrigin(t *testing.T) {
	t.Parallel()
	c := &consent{
		publicURL: func(*http.Request) string { return "http://127.0.0.1:8080" },
		own:       OwnOrigins("http://127.0.0.1:8080", "http://localhost:8787/v1"),
	}
	r := httptest.NewRequest("GET", "/v1/session", nil)
	for o, want := range map[string]bool{
		"http://localhost:5173":  true,
		"http://127.0.0.1:3000":  true,
		"https://localhost:8443": true,
		"http://[::1]:4321":      true,
		"http://localhost":       true,

		"http://127.0.0.1:8080":     false, // the consent page
		"http://localhost:8080":     false, // the same server by another name
		"http://[::1]:8080":         false,
		"http://localhost:8787":     false, // the data plane
		"http://127.0.0.1:8787":     false,
		"https://evil.com":          false,
		"http://localhost.evil.com": false,
		"http://localhost@evil.com": false,
		"http://127.0.0.1.nip.io":   false,
	} {
		if got := c.devOrigin(r, o); got != want {
			t.Errorf("devOrigin(%q) = %v, want %v", o, got, want)
		}
	}
	// On the default port, Wattfare's loopback origin keeps that port.
	c = &consent{publicURL: func(*http.Request) string { return "http://localhost" }}
	if c.devOrigin(r, "http://127.0.0.1") || c.devOrigin(r, "http://localhost:80") || !c.devOrigin(r, "https://localhost") {
		t.Errorf("with the consent page at http://localhost")
	}
}

// TestDevOriginsNotWattfares: a test-mode session is not opened, redirected
// back to or read from Wattfare's own loopback origin (the harness's
// consent page is at http://127.0.0.1:PORT), nor from https://evil.com; a
// live one neither.
func TestDevOriginsNotWattfares(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	own := h.srv.URL
	session := func(tok, origin string) *http.Response {
		res, _ := h.do(t, call{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tok, "Origin": origin}})
		return res
	}

	t.Run("ErrTestModeOwnOrigin", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "own_popup", 0, time.Now(), 5*time.Minute)
		if res, body := h.approve(t, tok, own, "3", h.user); res.StatusCode != http.StatusForbidden || body["target"] != nil {
			t.Errorf("popup opened by %s: %d %v", own, res.StatusCode, body)
		}
		hdr := h.popup()
		hdr["Cookie"] = h.cameFrom(t, map[string]string{"Referer": own + "/", "Sec-Fetch-Site": "same-origin"})
		res, body := h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: h.user,
			body: map[string]string{"token": tok, "return_to": own + "/budget", "monthly_cap_usd": "3"}})
		if res.StatusCode != http.StatusForbidden || body["target"] != nil {
			t.Errorf("redirect back to %s: %d %v", own, res.StatusCode, body)
		}
		if res := session(tok, own); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("session read from %s: %d ACAO %q", own, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeTest, "own_popup"); st != "" {
			t.Errorf("connected from Wattfare's own origin (%s)", st)
		}
	})

	t.Run("ErrEvilOrigin", func(t *testing.T) {
		t.Parallel()
		for _, mode := range []struct {
			user string
			key  *wattfareapp.Client
			mode wattfare.Mode
		}{{"evil_test", h.acmeTest, wattfare.ModeTest}, {"evil_live", h.acmeLive, wattfare.ModeLive}} {
			tok := mint(t, mode.key, mode.user, 0, time.Now(), 5*time.Minute)
			if res, body := h.approve(t, tok, "https://evil.com", "3", h.user); res.StatusCode != http.StatusForbidden || errCode(body) != "origin_not_allowed" {
				t.Errorf("%s popup: %d %v", mode.mode, res.StatusCode, body)
			}
			if res := session(tok, "https://evil.com"); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s session: %d ACAO %q", mode.mode, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
			}
			if st, _, _, _ := h.connection(t, h.acme, mode.mode, mode.user); st != "" {
				t.Errorf("%s: connected from https://evil.com (%s)", mode.mode, st)
			}
		}
		res, _ := h.do(t, call{method: "OPTIONS", path: "/v1/session", header: map[string]string{"Origin": "https://evil.com"}})
		if res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from https://evil.com got ACAO")
		}
	})
}
