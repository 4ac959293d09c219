package controlplane_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestSessionCookieName: behind an https public URL the session cookie is a
// __Host- cookie (Secure, Path=/, no Domain), which no sibling host can
// plant; a plain wf_session cookie then signs nobody in, even with a valid
// token. Over plain http (development) it is wf_session, and only that.
func TestSessionCookieName(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		publicURL   string
		want, other string
		secure      bool
	}{
		"OKHTTPSHostPrefix": {"https://wattfare.example", controlplane.HostSessionCookie, controlplane.SessionCookie, true},
		"OKPlainHTTP":       {"http://127.0.0.1:8080", controlplane.SessionCookie, controlplane.HostSessionCookie, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			s, err := controlplane.New(controlplane.WithPostgres(controlplane.Config{PublicURL: tc.publicURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pool, 0))
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, pool: pool, h: s.Handler()}
			b, id := h.signUp("cookie@example.com")
			c := b.last[0]
			if c.Name != tc.want || c.Secure != tc.secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie = %+v, want %s (Secure %v, Path=/, no Domain)", c, tc.want, tc.secure)
			}
			me := func(b *browser) string {
				var out struct {
					Me *struct{ Account struct{ ID string } }
				}
				b.mustDo(`{ me { account { id } } }`, nil, &out)
				if out.Me == nil {
					return ""
				}
				return out.Me.Account.ID
			}
			if got := me(b); got != id {
				t.Fatalf("signed-in browser is %q, want %q", got, id)
			}
			// The same valid token under the other mode's name is ignored.
			planted := h.browser()
			planted.cookies[tc.other] = &http.Cookie{Name: tc.other, Value: c.Value}
			if got := me(planted); got != "" {
				t.Fatalf("a %s cookie signed the browser in as %q", tc.other, got)
			}
			var out struct{ SignOut bool }
			b.mustDo(`mutation { signOut }`, nil, &out)
			if !out.SignOut || b.last[0].Name != tc.want || b.last[0].MaxAge >= 0 || me(b) != "" {
				t.Fatalf("sign-out: %+v, cleared %+v", out, b.last[0])
			}
		})
	}
}
