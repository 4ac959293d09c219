package controlplane

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wattfare/wattfare"
)

// originAllowed reports whether a page at origin may act for the app of
// session s (open its consent popup, be told the result, read
// GET /v1/session): one of the app's registered origins, exactly, and in
// test mode also any loopback origin, so that a developer's app works on
// whatever localhost port it runs before anyone registers that origin.
// Live mode keeps exact matching: a live key's budget is real money.
func originAllowed(s Session, origin string) bool {
	return slices.Contains(s.App.AllowedOrigins, origin) || s.Mode == wattfare.ModeTest && loopbackOrigin(origin)
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
