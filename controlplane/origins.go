package controlplane

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wattfare/wattfare"
)

// originAllowed reports whether a page at origin may act for the app of
// session s (open its consent popup, be told the result, read
// GET /v1/session): one of the app's registered origins, exactly, and in
// test mode also any developer's origin (devOrigin), so that a developer's
// app works on whatever localhost port it runs before anyone registers
// that origin. Live mode keeps exact matching: a live key's budget is real
// money.
func (c *consent) originAllowed(r *http.Request, s Session, origin string) bool {
	return slices.Contains(s.App.AllowedOrigins, origin) || s.Mode == wattfare.ModeTest && c.devOrigin(r, origin)
}

// devOrigin reports whether origin is a developer's loopback origin: any
// but Wattfare's own. Under `wattfare dev` the consent page and the data
// plane are on loopback origins themselves, and no app may take a page of
// Wattfare's for its own (they are reserved from registration too,
// OwnOrigins), or the redirect flow would take a navigation from any
// Wattfare page for one from the app. A loopback origin on the port of one
// of Wattfare's is Wattfare's (http://localhost:8080 is the server at
// http://127.0.0.1:8080).
func (c *consent) devOrigin(r *http.Request, origin string) bool {
	if !loopbackOrigin(origin) {
		return false
	}
	port := loopbackPort(origin)
	for _, own := range append(OwnOrigins(c.publicURL(r), ""), c.own...) {
		if loopbackOrigin(own) && loopbackPort(own) == port {
			return false
		}
	}
	return true
}

// loopbackPort is the port of a loopbackOrigin, its scheme's default when
// it names none.
func loopbackPort(origin string) string {
	u, _ := url.Parse(origin)
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// loopbackOrigin reports whether origin is, exactly as a browser writes an
// origin, http or https on localhost, 127.0.0.1 or [::1] with any port:
// "http://localhost:5173" is one; "http://localhost.evil.com",
// "http://localhost@evil.com", "http://127.0.0.1.nip.io" and anything with
// a path are not.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" ||
		u.Scheme+"://"+u.Host != origin || strings.HasSuffix(u.Host, ":") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
	default:
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return false
		}
	}
	return true
}
