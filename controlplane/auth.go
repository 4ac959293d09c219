package controlplane

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph"
	"github.com/wattfare/wattfare/graph/model"
)

// SessionCookie is the dashboard session cookie over plain http. It holds
// a random 32-byte token; the database stores only its SHA-256.
const SessionCookie = "wf_session"

// HostSessionCookie is the dashboard session cookie when the public URL is
// https. Browsers take a __Host- cookie only when it is Secure, has Path=/
// and no Domain, so no other host (a sibling subdomain among them) can plant
// one to sign a browser in to an account of its choosing; a plain
// SessionCookie is then ignored for the same reason.
const HostSessionCookie = "__Host-" + SessionCookie

// AccountIDFromContext returns the account signed in to the dashboard for
// the request whose context this is. The consent endpoints use it.
func AccountIDFromContext(ctx context.Context) (string, bool) {
	v, ok := graph.ViewerFrom(ctx)
	return v.AccountID, ok
}

// exchange is the HTTP exchange a GraphQL mutation runs in, so that signIn
// and signOut can set and clear the cookie.
type exchange struct {
	w      http.ResponseWriter
	token  string // the request's session token, if it had a valid one
	client string // the client's address, for the sign-in limits (see clientAddr)
}

type exchangeKey struct{}

// dashboardSessions implements graph.Sessions with an HttpOnly, SameSite=Lax
// cookie (Secure when the public URL is https).
type dashboardSessions struct {
	accounts wattfare.SessionService
	secure   bool
}

var _ graph.Sessions = (*dashboardSessions)(nil)

// name is the session cookie's name in this mode: the only one set, and the
// only one read.
func (d *dashboardSessions) name() string {
	if d.secure {
		return HostSessionCookie
	}
	return SessionCookie
}

func (d *dashboardSessions) cookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     d.name(),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   d.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// Start signs accountID in on this exchange: a fresh token replaces any
// previous session of the browser.
func (d *dashboardSessions) Start(ctx context.Context, accountID string) error {
	ex, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok {
		return wattfare.Errorf(wattfare.EINTERNAL, "no HTTP exchange for the session")
	}
	if ex.token != "" {
		if _, err := d.accounts.DeleteSession(ctx, ex.token); err != nil {
			return err
		}
	}
	token, expires, err := d.accounts.CreateSession(ctx, accountID)
	if err != nil {
		return err
	}
	ex.token = token
	http.SetCookie(ex.w, d.cookie(token, expires))
	return nil
}

// End signs the browser out and reports whether it was signed in.
func (d *dashboardSessions) End(ctx context.Context) (bool, error) {
	ex, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok || ex.token == "" {
		if ok {
			http.SetCookie(ex.w, d.cookie("", time.Time{}))
		}
		return false, nil
	}
	existed, err := d.accounts.DeleteSession(ctx, ex.token)
	if err != nil {
		return false, err
	}
	ex.token = ""
	http.SetCookie(ex.w, d.cookie("", time.Time{}))
	return existed, nil
}

func (s *Server) dashboardSessions() *dashboardSessions {
	return &dashboardSessions{
		accounts: s.cfg.Services.Sessions,
		secure:   strings.HasPrefix(s.cfg.PublicURL, "https://"),
	}
}

// withDashboardSession resolves the session cookie to the signed-in account
// and puts it in the request context (AccountIDFromContext, graph.ViewerFrom).
// A missing, unknown or expired cookie leaves the request anonymous; so does
// a database failure, which is logged: nothing is granted on doubt.
func (s *Server) withDashboardSession(next http.Handler) http.Handler {
	sessions := s.cfg.Services.Sessions
	name := s.dashboardSessions().name()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := &exchange{w: w, client: clientAddr(r, s.cfg.TrustedProxies)}
		ctx := context.WithValue(r.Context(), exchangeKey{}, ex)
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			a, err := sessions.SessionAccount(ctx, c.Value)
			switch {
			case err == nil:
				ex.token = c.Value
				ctx = graph.WithViewer(ctx, model.Viewer{AccountID: a.ID, IsAdmin: a.IsAdmin})
			case wattfare.ErrorCode(err) != wattfare.EUNAUTHENTICATED:
				s.log.ErrorContext(ctx, "dashboard session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
