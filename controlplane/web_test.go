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
		if err := appRoutes(mux, app, built); err != nil {
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
