package controlplane

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestWebApp(t *testing.T) {
	t.Parallel()
	app := fstest.MapFS{
		"index.html":         {Data: []byte(`<!doctype html><div id="root"></div>`)},
		"assets/index-1.js":  {Data: []byte(`console.log(1)`)},
		"assets/index-1.css": {Data: []byte(`body{}`)},
	}
	serve := func(built bool, method, path string) *httptest.ResponseRecorder {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /connect/api/approve", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
		if err := appRoutes(mux, app, built, "", ""); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		securityHeaders(mux).ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	t.Run("OKClientRoutesGetTheApp", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/", "/budget", "/connect", "/connect?x=1", "/dashboard/apps/app_1", "/admin"} {
			rec := serve(true, "GET", p)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="root"`) {
				t.Errorf("%s: %d %q", p, rec.Code, rec.Body.String())
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: CSP %q XFO %q", p, csp, rec.Header().Get("X-Frame-Options"))
			}
		}
	})
	t.Run("OKAssetsCachedForever", func(t *testing.T) {
		t.Parallel()
		rec := serve(true, "GET", "/assets/index-1.js")
		if rec.Code != 200 || rec.Body.String() != "console.log(1)" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Cache-Control"))
		}
	})
	t.Run("ErrMissingAssetIsNotTheApp", func(t *testing.T) {
		t.Parallel()
		if rec := serve(true, "GET", "/assets/gone.js"); rec.Code != 404 {
			t.Errorf("missing asset: %d", rec.Code)
		}
		if rec := serve(true, "GET", "/v1/nope"); rec.Code != 404 {
			t.Errorf("unknown API path: %d", rec.Code)
		}
	})
	t.Run("OKAPIRoutesWin", func(t *testing.T) {
		t.Parallel()
		if rec := serve(true, "POST", "/connect/api/approve"); rec.Code != 299 {
			t.Errorf("API route: %d", rec.Code)
		}
		if rec := serve(true, "POST", "/budget"); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST to a page: %d", rec.Code)
		}
	})
	t.Run("OKNotBuiltSaysHowToBuild", func(t *testing.T) {
		t.Parallel()
		rec := serve(false, "GET", "/budget")
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make build") || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%d %q", rec.Code, rec.Body.String())
		}
	})
}

func TestConnectRecordsWhereTheBrowserCameFrom(t *testing.T) {
	t.Parallel()
	app := fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><div id="root"></div>`)}}
	visit := func(publicURL string, hdr map[string]string) *http.Cookie {
		mux := http.NewServeMux()
		if err := appRoutes(mux, app, true, publicURL, ""); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/connect", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		mux.ServeHTTP(rec, req)
		cs := (&http.Response{Header: rec.Header()}).Cookies()
		if len(cs) == 0 {
			return nil
		}
		return cs[0]
	}
	t.Run("OKHTTPSIsAHostCookie", func(t *testing.T) {
		t.Parallel()
		c := visit("https://wattfare.example", map[string]string{"Referer": "https://acme.example/chat?x=1", "Sec-Fetch-Site": "cross-site"})
		if c == nil || c.Name != "__Host-wf_connect_from" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.Value != "https://acme.example" {
			t.Errorf("cookie %+v", c)
		}
	})
	t.Run("OKReferrerOriginOnly", func(t *testing.T) {
		t.Parallel()
		// "" is a deletion: with no usable Referer, nothing vouches for the request.
		for ref, want := range map[string]string{
			"http://127.0.0.1:3000/?user=a": "http://127.0.0.1:3000",
			"":                              "",
			"javascript:alert(1)":           "",
			"https://u:p@acme.example/":     "",
		} {
			if c := visit("", map[string]string{"Referer": ref}); c == nil || c.Value != want || c.Name != "wf_connect_from" || (want == "") != (c.MaxAge < 0) {
				t.Errorf("Referer %q: cookie %+v, want %q", ref, c, want)
			}
		}
	})
	t.Run("OKSameOriginReloadKeepsIt", func(t *testing.T) {
		t.Parallel()
		if c := visit("", map[string]string{"Referer": "http://wattfare.test/connect", "Sec-Fetch-Site": "same-origin"}); c != nil {
			t.Errorf("a same-origin reload set %+v", c)
		}
	})
}

func TestIndexAnnouncesDataURL(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	app := fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><html><head><title>W</title></head><body></body></html>`)}}
	if err := appRoutes(mux, app, true, "", `http://127.0.0.1:8787/v1"><script>`); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/dashboard", nil))
	body := rec.Body.String()
	want := `<meta name="wattfare-data-url" content="http://127.0.0.1:8787/v1&#34;&gt;&lt;script&gt;"></head>`
	if !strings.Contains(body, want) {
		t.Fatalf("index = %s\nwant it to contain %s", body, want)
	}
}
