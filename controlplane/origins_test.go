package controlplane

import (
	"net/http"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

func TestLoopbackOrigin(t *testing.T) {
	t.Parallel()
	for o, want := range map[string]bool{
		"http://localhost:3000":  true,
		"http://localhost:5173":  true,
		"http://127.0.0.1:8080":  true,
		"https://localhost:3000": true,
		"http://localhost":       true,
		"http://[::1]:4321":      true,

		"http://localhost.evil.com":       false,
		"http://localhost.evil.com:3000":  false,
		"http://localhost@evil.com":       false,
		"http://user:pw@localhost:3000":   false,
		"http://127.0.0.1.nip.io":         false,
		"http://127.0.0.1.nip.io:3000":    false,
		"http://evil.com#@localhost:3000": false,
		"http://localhost%2eevil.com":     false,
		"http://localhost:3000/":          false,
		"http://localhost:3000/app":       false,
		"http://localhost:3000?x":         false,
		"http://localhost:":               false,
		"http://localhost:0":              false,
		"http://localhost:65536":          false,
		"http://localhost:03000":          false,
		"http://LOCALHOST:3000":           false,
		"http://127.0.0.2:3000":           false,
		"http://127.1:3000":               false,
		"http://0.0.0.0:3000":             false,
		"ws://localhost:3000":             false,
		"file://localhost":                false,
		"localhost:3000":                  false,
		"null":                            false,
		"":                                false,
	} {
		if got := loopbackOrigin(o); got != want {
			t.Errorf("loopbackOrigin(%q) = %v, want %v", o, got, want)
		}
	}
}

// TestLoopbackOrigins: a test-mode session works from a developer's app on
// any localhost port, registered or not (consent popup, redirect flow,
// GET /v1/session and its preflight); a live-mode session keeps to the
// app's registered origins exactly.
func TestLoopbackOrigins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const dev = "http://localhost:5173" // registered by no app
	session := func(tok, origin string) *http.Response {
		res, _ := h.do(t, call{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tok, "Origin": origin}})
		return res
	}

	t.Run("OKTestModePopup", func(t *testing.T) {
		t.Parallel()
		for i, o := range []string{dev, "http://127.0.0.1:3000", "https://localhost:8443"} {
			user := []string{"lo_a", "lo_b", "lo_c"}[i]
			tok := mint(t, h.acmeTest, user, 0, time.Now(), 5*time.Minute)
			res, body := h.approve(t, tok, o, "3", h.user)
			if tgt, _ := body["target"].(map[string]any); res.StatusCode != 200 || tgt["origin"] != o {
				t.Errorf("origin %s: %d %v", o, res.StatusCode, body)
			}
			if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeTest, user); st != "active" {
				t.Errorf("origin %s: connection %q", o, st)
			}
		}
	})

	t.Run("OKTestModeRedirect", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "lo_redirect", 0, time.Now(), 5*time.Minute)
		hdr := h.popup()
		hdr["Cookie"] = h.cameFrom(t, map[string]string{"Referer": dev + "/", "Sec-Fetch-Site": "cross-site"})
		res, body := h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: h.user,
			body: map[string]string{"token": tok, "return_to": dev + "/chat", "monthly_cap_usd": "3"}})
		if tgt, _ := body["target"].(map[string]any); res.StatusCode != 200 || tgt["return_to"] != dev+"/chat" {
			t.Errorf("%d %v", res.StatusCode, body)
		}
	})

	t.Run("OKTestModeSession", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "lo_session", 0, time.Now(), 5*time.Minute)
		if res := session(tok, dev); res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != dev {
			t.Errorf("%d ACAO %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
		// The browser's preflight, which carries no token, lets it ask.
		res, _ := h.do(t, call{method: "OPTIONS", path: "/v1/session", header: map[string]string{"Origin": dev, "Access-Control-Request-Headers": "authorization"}})
		if res.Header.Get("Access-Control-Allow-Origin") != dev {
			t.Errorf("preflight from %s: %v", dev, res.Header)
		}
		// A bad token from a loopback page: readable, so the developer sees why.
		if res := session("nope", dev); res.StatusCode != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != dev {
			t.Errorf("bad token: %d ACAO %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
	})

	t.Run("ErrLookalikes", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "lo_evil", 0, time.Now(), 5*time.Minute)
		for _, o := range []string{"http://localhost.evil.com", "http://localhost@evil.com", "http://127.0.0.1.nip.io", "http://localhost:5173/", "http://127.0.0.2:5173"} {
			if res, body := h.approve(t, tok, o, "3", h.user); res.StatusCode != http.StatusForbidden || body["target"] != nil {
				t.Errorf("origin %s: %d %v", o, res.StatusCode, body)
			}
			if res := session(tok, o); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("session from %s: %d ACAO %q", o, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
			}
			res, _ := h.do(t, call{method: "OPTIONS", path: "/v1/session", header: map[string]string{"Origin": o}})
			if res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight from %s got ACAO", o)
			}
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeTest, "lo_evil"); st != "" {
			t.Errorf("a lookalike origin got a connection (%s)", st)
		}
	})

	t.Run("ErrLiveModeExact", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "lo_live", 0, time.Now(), 5*time.Minute)
		for _, o := range []string{dev, "http://127.0.0.1:3000"} {
			if res, body := h.approve(t, tok, o, "3", h.user); res.StatusCode != http.StatusForbidden || errCode(body) != "origin_not_allowed" {
				t.Errorf("live, origin %s: %d %v", o, res.StatusCode, body)
			}
			if res := session(tok, o); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("live session from %s: %d ACAO %q", o, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
			}
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "lo_live"); st != "" {
			t.Errorf("a live key connected from an unregistered loopback origin (%s)", st)
		}
		// Its registered origin still works.
		if res, body := h.approve(t, tok, acmeOrigin, "3", h.user); res.StatusCode != 200 {
			t.Errorf("live, registered origin: %d %v", res.StatusCode, body)
		}
	})
}
