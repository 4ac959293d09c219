package controlplane

import (
	"bytes"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/wattfare/wattfare/web"
)

// appCSP is the content security policy of the web app's pages. It keeps
// frame-ancestors 'none' from securityHeaders: no page, least of all the
// consent popup, may be framed.
const appCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webRoutes serves the embedded React app: hashed assets under /assets/ for
// a year, and index.html for every other GET path that no API route took
// (the app routes on the client: /budget, /connect, /dashboard, /admin…).
func (s *Server) webRoutes() error {
	app, built := web.App()
	return appRoutes(s.mux, app, built, s.cfg.PublicURL, s.cfg.DataURL)
}

// appRoutes serves app, the built web app, or the not-built page.
// publicURL, when set, is the control plane's origin as browsers see it;
// dataURL, when set, is announced to the app's pages (see withDataURL).
func appRoutes(mux *http.ServeMux, app fs.FS, built bool, publicURL, dataURL string) error {
	if !built {
		mux.HandleFunc("/", getOnly(notBuilt))
		return nil
	}
	index, err := fs.ReadFile(app, "index.html")
	if err != nil {
		return err
	}
	index = withDataURL(index, dataURL)
	assets := http.FileServerFS(app)
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := fs.Stat(app, strings.TrimPrefix(path.Clean(r.URL.Path), "/")); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		assets.ServeHTTP(w, r)
	})
	modTime := time.Now()
	// "/" without a method: "GET /" would conflict with method-less API
	// patterns such as "/graphql".
	mux.HandleFunc("/", getOnly(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/connect/api/") {
			http.NotFound(w, r)
			return
		}
		if leadsToConsent(r.URL.Path) {
			recordConnectFrom(w, r, secureOrigin(publicURL, r))
		}
		h := w.Header()
		h.Set("Content-Security-Policy", appCSP)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	}))
	return nil
}

// connectFromCookie holds the origin of the page that sent the browser to
// the consent page, as the browser's Referer told it. The redirect flow
// needs it: with no opener to ask, it is the one proof that the app's own
// page started the request, and not a link an attacker sent with a session
// token minted for the attacker's own account at the app (which would
// connect the victim's budget to it).
//
// Its value is the origin, then, once the consent page has shown a
// redirect-flow request, "|" and that request's binding (see
// consent.redirectFromApp): from then on it vouches for that request only,
// and an approval uses it up.
//
// Over https it is a __Host- cookie: no other host, not even a sibling
// subdomain, can set it. Over plain http (development) cookies ignore the
// port, so another local server could forge it; that is no deployment.
func connectFromCookie(secure bool) string {
	if secure {
		return "__Host-wf_connect_from"
	}
	return "wf_connect_from"
}

// connectFromMaxAge bounds how long a navigation vouches for a request: a
// session token lives at most 10 minutes.
const connectFromMaxAge = 15 * 60

// connectFrom is connectFromCookie set to value, or deleted when value is "".
func connectFrom(secure bool, value string) *http.Cookie {
	path := "/connect"
	if secure {
		path = "/" // required of a __Host- cookie
	}
	c := &http.Cookie{
		Name: connectFromCookie(secure), Value: value, Path: path, MaxAge: connectFromMaxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}

// secureOrigin tells whether the control plane is served over https.
func secureOrigin(publicURL string, r *http.Request) bool {
	if publicURL != "" {
		return strings.HasPrefix(publicURL, "https://")
	}
	return r.TLS != nil
}

// leadsToConsent tells the pages a browser can come in by and reach the
// consent page without another request to the server: the consent page
// itself under any of the paths it renders at, and the sign-in page, which
// sends the browser on to its ?next= by client-side navigation.
func leadsToConsent(p string) bool {
	return p == "/connect" || strings.HasPrefix(p, "/connect/") || p == "/signin"
}

// recordConnectFrom sets connectFromCookie on a navigation to a page that
// leads to the consent page (leadsToConsent) from another origin, to that
// origin, and deletes it when the browser sent no usable Referer: whatever
// an earlier navigation recorded must not vouch for this one. A reload of
// the page from Wattfare itself keeps it.
func recordConnectFrom(w http.ResponseWriter, r *http.Request, secure bool) {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return
	}
	from := ""
	if ref, err := url.Parse(r.Referer()); err == nil && (ref.Scheme == "http" || ref.Scheme == "https") && ref.Host != "" && ref.User == nil {
		from = ref.Scheme + "://" + ref.Host
	}
	http.SetCookie(w, connectFrom(secure, from))
}

func getOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// notBuilt answers when the binary was compiled without the web app.
func notBuilt(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/favicon.ico" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(notBuiltPage))
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wattfare: web app not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1c1917}
code,pre{background:#f5f5f4;border-radius:6px;padding:.15rem .35rem}pre{padding:.75rem}</style></head>
<body><h1>The web app is not built into this binary</h1>
<p>The control plane's API works (GraphQL at <code>/graphql</code>, <code>/v1/session</code>), but the pages
(your budget, the consent popup, the dashboard) are compiled in from <code>web/dist/app</code>, which was empty
when this binary was built.</p>
<p>Build the web app, then the binary:</p>
<pre>make build        # runs scripts/build-web.sh (npm ci + vite build), then go build</pre>
<p>or by hand: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then <code>go build -o bin/wattfare ./cmd/wattfare</code>.</p>
</body></html>
`

// withDataURL tells the web app where the data plane is, so that the
// developer dashboard shows integrators the real endpoint rather than the
// dev default: a <meta name="wattfare-data-url"> before </head>. The URL is
// the operator's configuration, never request input, and is escaped anyway.
func withDataURL(index []byte, dataURL string) []byte {
	if dataURL == "" {
		return index
	}
	meta := `<meta name="wattfare-data-url" content="` + html.EscapeString(dataURL) + `">`
	i := bytes.Index(index, []byte("</head>"))
	if i < 0 {
		return index
	}
	out := make([]byte, 0, len(index)+len(meta))
	out = append(out, index[:i]...)
	out = append(out, meta...)
	return append(out, index[i:]...)
}
