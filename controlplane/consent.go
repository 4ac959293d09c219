package controlplane

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
	wattfarejs "github.com/wattfare/wattfare/sdk/js"
)

// DefaultRequestedCap is the cap the popup proposes when the app's session
// token asks for none.
const DefaultRequestedCap = 10 * wattfare.Dollar

// consent serves the browser side of the consent flow: GET /v1/session for
// the app's page, the JSON endpoints of the /connect popup, and the client
// script apps load.
type consent struct {
	store     wattfare.ConsentService
	verifier  *SessionVerifier
	publicURL func(r *http.Request) string
	own       []string // Wattfare's own origins (OwnOrigins): never a developer's (devOrigin)
	account   func(r *http.Request) (string, bool)
	now       func() time.Time
	log       *slog.Logger
}

func (s *Server) consentRoutes() error {
	c := s.newConsent()
	c.routes(s.mux)
	return nil
}

func (s *Server) newConsent() *consent {
	store := s.cfg.Services.Consent
	publicURL := func(r *http.Request) string {
		if s.cfg.PublicURL != "" {
			return strings.TrimSuffix(s.cfg.PublicURL, "/")
		}
		return requestOrigin(r)
	}
	return &consent{
		store:     store,
		verifier:  &SessionVerifier{Keys: store},
		publicURL: publicURL,
		own:       OwnOrigins(s.cfg.PublicURL, s.cfg.DataURL),
		account:   func(r *http.Request) (string, bool) { return AccountIDFromContext(r.Context()) },
		now:       time.Now,
		log:       s.log,
	}
}

func (c *consent) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/session", c.handleSession)
	mux.HandleFunc("OPTIONS /v1/session", c.handleSession)
	mux.HandleFunc("POST /connect/api/context", c.handleContext)
	mux.HandleFunc("POST /connect/api/approve", c.handleApprove)
	mux.HandleFunc("GET /v1/connect.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		w.Write(wattfarejs.Connect)
	})
}

func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// consentRequest is what the popup sends: the app's session token, the
// origin of the page that opened it (which must be registered for the app),
// and, in the redirect flow, where to go back to.
type consentRequest struct {
	Token      string `json:"token"`
	Origin     string `json:"origin"`
	ReturnTo   string `json:"return_to"`
	MonthlyCap string `json:"monthly_cap_usd"` // approve only: what the user typed
}

// consentTarget is where the popup may report: the app's registered origin
// that the request named, and the return URL of the redirect flow.
type consentTarget struct {
	Origin   string `json:"origin"`
	ReturnTo string `json:"return_to,omitempty"`
}

// target checks the opener's origin (popup flow) or the return URL (redirect
// flow) against the app's registered origins, exactly (and, in test mode,
// developers' loopback origins: originAllowed).
func (c *consent) target(r *http.Request, s Session, req consentRequest) (consentTarget, error) {
	notAllowed := func(o string) error {
		return &wattfare.Error{Code: wattfare.EFORBIDDEN, Field: "origin",
			Message: o + " is not a registered origin of " + s.App.Name + "; nothing was connected"}
	}
	t := consentTarget{Origin: req.Origin}
	if req.ReturnTo != "" {
		u, err := url.Parse(req.ReturnTo)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return t, notAllowed(req.ReturnTo)
		}
		o := u.Scheme + "://" + u.Host
		if t.Origin != "" && t.Origin != o {
			return t, notAllowed(o)
		}
		t.Origin, t.ReturnTo = o, u.String()
	}
	if t.Origin == "" {
		return t, &wattfare.Error{Code: wattfare.EINVALID, Field: "origin", Message: "the opener's origin is missing"}
	}
	if !c.originAllowed(r, s, t.Origin) {
		return t, notAllowed(t.Origin)
	}
	return t, nil
}

type consentApp struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type consentAccount struct {
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

// consentConnection is the connection the request would change. Its
// figures are shown only to the account that pays for it: what someone
// else's budget allows and spends is theirs.
type consentConnection struct {
	Status     string          `json:"status"`
	MonthlyCap *wattfare.Money `json:"monthly_cap_usd,omitempty"`
	Spent      *wattfare.Money `json:"spent_usd,omitempty"`
	Remaining  *wattfare.Money `json:"remaining_usd,omitempty"`
	ResetsAt   *time.Time      `json:"resets_at,omitempty"`
	Yours      bool            `json:"yours"` // paid by the signed-in account
}

// consentContext is what the popup shows.
type consentContext struct {
	App          consentApp         `json:"app"`
	Mode         wattfare.Mode      `json:"mode"`
	Target       consentTarget      `json:"target"`
	AppUserID    string             `json:"app_user_id"`
	RequestedCap *wattfare.Money    `json:"requested_cap_usd"`
	ProposedCap  wattfare.Money     `json:"proposed_cap_usd"`
	Account      *consentAccount    `json:"account"`
	Connection   *consentConnection `json:"connection"`
	// AutoApprove tells the popup to approve on its own once it has
	// verified its opener: in test mode, for a browser not signed in to
	// Wattfare, when the approval would go to the app's sandbox account and
	// change no person's connection (see autoApprove).
	AutoApprove bool `json:"auto_approve"`
}

// decode reads and checks a consent request. bind is for the page showing
// it (see redirectFromApp); an approval uses the cookie up instead.
func (c *consent) decode(w http.ResponseWriter, r *http.Request, bind bool) (consentRequest, Session, consentTarget, bool) {
	var req consentRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", "the body must be a JSON object")
		return req, Session{}, consentTarget{}, false
	}
	s, err := c.verifier.Verify(r.Context(), req.Token)
	if err != nil {
		c.fail(w, r, err)
		return req, s, consentTarget{}, false
	}
	if s.App.SuspendedAt != nil {
		writeAPIError(w, http.StatusForbidden, wattfare.EAppSuspended, s.App.Name+" is suspended and cannot be connected")
		return req, s, consentTarget{}, false
	}
	t, err := c.target(r, s, req)
	if err != nil {
		c.fail(w, r, err)
		return req, s, t, false
	}
	if t.ReturnTo != "" && !c.redirectFromApp(w, r, s, t, bind) {
		c.fail(w, r, &wattfare.Error{Code: wattfare.EFORBIDDEN, Field: "return_to",
			Message: "this request did not come from " + s.App.Name + "'s page at " + t.Origin + "; nothing was connected. Go back to " + s.App.Name + " and press Connect again"})
		return req, s, t, false
	}
	return req, s, t, true
}

// redirectFromApp tells whether a redirect-flow request may go on. The popup
// flow proves its opener by postMessage; the redirect flow has no opener, so
// a link to /connect carrying a session token the attacker minted for
// their own account at the app would, once approved, put the victim's
// budget behind the attacker's account. So a person's approval needs the
// browser to have come to /connect from the app's own origin (see
// recordConnectFrom; connect.js navigates with referrerpolicy "origin"),
// for this very request: the first redirect-flow request the consent page
// shows after that navigation binds the cookie to itself, so that a
// navigation from the app's page never vouches for another session token,
// and an approval uses the cookie up (see approved).
// Test-mode requests from a browser not signed in are exempt: they approve
// for the app's sandbox account, which is nobody's money.
//
// A link to /connect posted on the app's own site would still pass; only
// an exchange of the result by the app's page closes that (see the
// redirect flow in sdk/README.md).
func (c *consent) redirectFromApp(w http.ResponseWriter, r *http.Request, s Session, t consentTarget, bind bool) bool {
	secure := strings.HasPrefix(c.publicURL(r), "https://")
	fromApp := false
	if ck, err := r.Cookie(connectFromCookie(secure)); err == nil {
		from, bound, _ := strings.Cut(ck.Value, "|")
		want := requestBinding(s)
		fromApp = from == t.Origin && (bound == "" || bound == want)
		if fromApp && bound == "" && bind {
			http.SetCookie(w, connectFrom(secure, from+"|"+want))
		}
	}
	if _, signedIn := c.account(r); s.Mode == wattfare.ModeTest && !signedIn {
		return true
	}
	return fromApp
}

// requestBinding names one consent request (an app's session token, by its
// jti) in connectFromCookie, without writing the jti there.
func requestBinding(s Session) string {
	sum := sha256.Sum256([]byte(s.App.ID + "\x00" + string(s.Mode) + "\x00" + s.ID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// approved uses connectFromCookie up after an approval: what the browser's
// last navigation vouched for is done.
func (c *consent) approved(w http.ResponseWriter, r *http.Request) {
	secure := strings.HasPrefix(c.publicURL(r), "https://")
	if _, err := r.Cookie(connectFromCookie(secure)); err == nil {
		http.SetCookie(w, connectFrom(secure, ""))
	}
}

func (c *consent) handleContext(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_, s, t, ok := c.decode(w, r, true)
	if !ok {
		return
	}
	out := consentContext{
		App: consentApp{ID: s.App.ID, Name: s.App.Name}, Mode: s.Mode, Target: t, AppUserID: s.AppUserID,
		ProposedCap: DefaultRequestedCap,
	}
	if s.MonthlyCap > 0 {
		out.RequestedCap, out.ProposedCap = &s.MonthlyCap, s.MonthlyCap
	}
	accountID, signedIn := c.account(r)
	if signedIn {
		a, err := c.store.Account(r.Context(), accountID)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		out.Account = &consentAccount{Email: a.Email, DisplayName: a.DisplayName}
	}
	st, err := c.store.Connection(r.Context(), s.App.ID, s.Mode, s.AppUserID, c.now())
	switch {
	case err == nil:
		out.Connection = &consentConnection{Status: string(st.Status), Yours: signedIn && st.AccountID == accountID}
		if out.Connection.Yours {
			out.Connection.MonthlyCap, out.Connection.Spent, out.Connection.Remaining, out.Connection.ResetsAt = &st.MonthlyCap, &st.Spent, &st.Remaining, &st.ResetsAt
		}
	case wattfare.ErrorCode(err) == wattfare.ENOTFOUND:
	default:
		c.fail(w, r, err)
		return
	}
	if out.AutoApprove, err = c.autoApprove(r, s, signedIn, out.Connection, st.AccountID); err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// autoApprove decides whether the popup may approve without asking. Only a
// test-mode request from a browser that is not signed in qualifies, and only
// when the connection is new or already the sandbox's and active: a signed-in
// person's account is never connected without their click, and a connection
// someone revoked or owns is never taken over or revived unattended (the
// approve endpoint enforces the same, see wattfare.Approval.Unattended).
func (c *consent) autoApprove(r *http.Request, s Session, signedIn bool, conn *consentConnection, owner string) (bool, error) {
	if s.Mode != wattfare.ModeTest || signedIn {
		return false, nil
	}
	if conn == nil {
		return true, nil
	}
	if conn.Status != string(wattfare.ConnectionActive) {
		return false, nil
	}
	return c.store.IsSandboxAccount(r.Context(), s.App.ID, owner)
}

// consentResult is the answer to an approval, and the message the popup
// posts to its opener (at Target.Origin only).
type consentResult struct {
	Type       string         `json:"type"` // "wattfare:result"
	Status     string         `json:"status"`
	Mode       wattfare.Mode  `json:"mode"`
	AppUserID  string         `json:"app_user_id"`
	MonthlyCap wattfare.Money `json:"monthly_cap_usd"`
	Target     consentTarget  `json:"target"`
}

// handleApprove stores a user's approval. It takes only a same-origin POST
// from the popup itself, checked here explicitly on top of the server-wide
// cross-origin protection, because this is the one request that lets an app
// spend someone's money.
func (c *consent) handleApprove(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !c.sameOrigin(r) {
		writeAPIError(w, http.StatusForbidden, "cross_origin", "approvals are only accepted from Wattfare's own consent page")
		return
	}
	req, s, t, ok := c.decode(w, r, false)
	if !ok {
		return
	}
	cap, err := wattfare.ParseMoney(strings.TrimPrefix(strings.TrimSpace(req.MonthlyCap), "$"))
	if err != nil || cap <= 0 {
		c.fail(w, r, wattfare.InvalidField("monthlyCap", "enter a monthly cap in dollars, such as 5 or 12.50"))
		return
	}
	accountID, signedIn := c.account(r)
	if !signedIn {
		if s.Mode != wattfare.ModeTest {
			writeAPIError(w, http.StatusUnauthorized, "sign_in_required", "sign in to Wattfare to approve")
			return
		}
		// Test mode, nobody signed in: an unattended approval for the app's
		// sandbox account, which has test money only.
		if accountID, err = c.store.SandboxAccount(r.Context(), s.App.ID); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	st, err := c.store.Approve(r.Context(), wattfare.Approval{
		AppID: s.App.ID, Mode: s.Mode, AppUserID: s.AppUserID, AccountID: accountID,
		MonthlyCap: cap, IssuedAt: s.IssuedAt, Unattended: !signedIn,
	}, c.now())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.log.Info("consent approved", "app", s.App.ID, "mode", s.Mode, "connection", st.ID, "account", accountID)
	c.approved(w, r)
	writeJSON(w, http.StatusOK, consentResult{
		Type: "wattfare:result", Status: "approved", Mode: s.Mode, AppUserID: s.AppUserID,
		MonthlyCap: st.MonthlyCap, Target: t,
	})
}

// sameOrigin accepts a request only when the browser says it comes from
// Wattfare's own origin: Sec-Fetch-Site same-origin when sent, and an
// Origin header equal to the control plane's, which every browser sends
// on a POST (so a missing or "null" Origin is refused). A JSON content type
// keeps simple cross-site forms (urlencoded, multipart, text/plain) out too.
func (c *consent) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	// Only the configured public origin: the Host header is the client's to
	// choose (DNS rebinding makes it anything), so it proves nothing.
	if origin := r.Header.Get("Origin"); origin == "" || origin != c.publicURL(r) {
		return false
	}
	ct := r.Header.Get("Content-Type")
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// fail translates a domain error once, at this edge.
func (c *consent) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *wattfare.Error
	if !errors.As(err, &e) {
		c.log.Error("consent", "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	status, code := http.StatusInternalServerError, "internal"
	switch e.Code {
	case wattfare.EUNAUTHENTICATED:
		status, code = http.StatusUnauthorized, "invalid_session"
	case wattfare.EFORBIDDEN:
		status, code = http.StatusForbidden, "origin_not_allowed"
	case wattfare.ENOTFOUND:
		status, code = http.StatusNotFound, "not_found"
	case wattfare.EINVALID:
		status, code = http.StatusBadRequest, "invalid_request"
	case wattfare.ECONFLICT:
		status, code = http.StatusConflict, "conflict"
	}
	if status == http.StatusUnauthorized {
		c.log.Info("consent: session token refused", "path", r.URL.Path, "err", err)
	}
	var out apiError
	out.Error.Code, out.Error.Message, out.Error.Field = code, e.Message, e.Field
	if status != http.StatusInternalServerError {
		out.Error.Metadata = e.Metadata
	}
	writeJSON(w, status, out)
}
