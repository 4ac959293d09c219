package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
)

// TestDemoFront checks the demo's origin: it answers 503 until its servers
// listen, then sends each browser to the server of its mode (?mode=, else
// the cookie it set, else test) with the Host the browser asked for.
func TestDemoFront(t *testing.T) {
	t.Parallel()
	backend := func(mode string) *demoServer {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, mode+" "+r.Host)
		}))
		t.Cleanup(s.Close)
		u, _ := url.Parse(s.URL)
		return &demoServer{addr: u.Host}
	}
	f := &demoFront{servers: map[wattfare.Mode]*demoServer{wattfare.ModeTest: backend("test"), wattfare.ModeLive: backend("live")}}
	front := httptest.NewServer(f.handler())
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "http://")

	get := func(path string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	if res, _ := get("/"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before ready: %d, want 503", res.StatusCode)
	}
	f.ready.Store(true)
	if _, body := get("/"); body != "test "+host {
		t.Errorf("default: %q, want test on the browser's host", body)
	}
	res, body := get("/?mode=live&user=alice")
	if body != "live "+host {
		t.Errorf("?mode=live: %q", body)
	}
	var mode *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == demoModeCookie {
			mode = c
		}
	}
	if mode == nil || mode.Value != "live" {
		t.Fatalf("?mode=live set no %s=live cookie: %v", demoModeCookie, res.Cookies())
	}
	if _, body := get("/api/me", mode); body != "live "+host {
		t.Errorf("with the cookie: %q, want live", body)
	}
	if _, body := get("/api/me?mode=test", mode); body != "test "+host {
		t.Errorf("?mode=test over the cookie: %q, want test", body)
	}
}
