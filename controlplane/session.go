package controlplane

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wattfare/wattfare"
)

// SessionLeeway is the clock skew allowed between an app's backend, which
// mints session tokens, and Wattfare, which verifies them.
const SessionLeeway = 30 * time.Second

// Session is a verified session token: an app (in a mode) vouching for one
// of its users, and optionally asking for a monthly cap.
type Session struct {
	App        wattfare.App
	Mode       wattfare.Mode
	KeyID      string
	AppUserID  string
	MonthlyCap wattfare.Money // zero when the app asked for none
	IssuedAt   time.Time
	ExpiresAt  time.Time
	ID         string // jti
}

// sessionKeys is what verification needs from storage.
type sessionKeys interface {
	SessionKey(ctx context.Context, kid wattfare.KeyID) (wattfare.APIKey, error)
	App(ctx context.Context, appID string) (wattfare.App, error)
}

var _ sessionKeys = wattfare.ConsentService(nil)

// SessionVerifier checks session tokens minted by app backends (see
// sdk/go/wattfareapp): EdDSA only, typ wattfare-session+jwt, aud wattfare,
// exp required and at most 600 s after iat, 30 s of skew, and a kid naming a
// key of the iss app and mode that is neither revoked nor past its roll
// expiry.
type SessionVerifier struct {
	Keys sessionKeys
	Now  func() time.Time // time.Now when nil
}

type sessionClaims struct {
	jwt.RegisteredClaims
	MonthlyCapUSD *json.Number `json:"monthly_cap_usd,omitempty"`
}

// errInvalidSession is every verification failure as callers see it: which
// check failed is logged, not shown.
var errInvalidSession = wattfare.Errorf(wattfare.EUNAUTHENTICATED, "invalid or expired session token")

// Verify returns the session a token carries, or an EUNAUTHENTICATED error.
func (v *SessionVerifier) Verify(ctx context.Context, token string) (Session, error) {
	s, err := v.verify(ctx, token)
	var storeErr storageError
	switch {
	case errors.As(err, &storeErr):
		return Session{}, storeErr.err
	case err != nil:
		return Session{}, fmt.Errorf("%w (%v)", errInvalidSession, err)
	}
	return s, nil
}

// storageError marks a failure to look a key up, as opposed to a token
// that fails a check.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }

func (v *SessionVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *SessionVerifier) verify(ctx context.Context, token string) (Session, error) {
	if len(token) > maxTokenLen {
		return Session{}, errors.New("token too long")
	}
	if err := checkShape(token); err != nil {
		return Session{}, err
	}
	var s Session
	parser := jwt.NewParser(
		jwt.WithStrictDecoding(),
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(wattfare.SessionAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(SessionLeeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithJSONNumber(),
	)
	var lookupErr error
	claims := &sessionClaims{}
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != wattfare.SessionTokenType {
			return nil, errors.New("wrong typ")
		}
		kidStr, _ := t.Header["kid"].(string)
		kid, err := wattfare.ParseKid(kidStr)
		if err != nil {
			return nil, errors.New("malformed kid")
		}
		pk, err := wattfare.ParsePublishableKey(claims.Issuer)
		if err != nil {
			return nil, errors.New("iss is not a publishable key")
		}
		key, err := v.Keys.SessionKey(ctx, kid)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		switch {
		case key.AppID != pk.App.String() || key.Mode != pk.Mode:
			return nil, errors.New("key belongs to another app or mode")
		case key.RevokedAt != nil:
			return nil, errors.New("key revoked")
		case key.ExpiresAt != nil && !v.now().Before(*key.ExpiresAt):
			return nil, errors.New("key rolled and expired")
		case len(key.PublicKey) != ed25519.PublicKeySize:
			return nil, errors.New("bad stored public key")
		}
		app, err := v.Keys.App(ctx, key.AppID)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		s.App, s.Mode, s.KeyID = app, key.Mode, key.ID
		return ed25519.PublicKey(key.PublicKey), nil
	})
	if lookupErr != nil && wattfare.ErrorCode(lookupErr) == wattfare.EINTERNAL {
		return Session{}, storageError{fmt.Errorf("verify session: %w", lookupErr)}
	}
	if err != nil {
		return Session{}, err
	}
	if claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return Session{}, errors.New("iat and exp are required")
	}
	s.IssuedAt, s.ExpiresAt = claims.IssuedAt.Time, claims.ExpiresAt.Time
	if life := s.ExpiresAt.Sub(s.IssuedAt); life <= 0 || life > wattfare.MaxSessionLifetime {
		return Session{}, errors.New("exp - iat out of range")
	}
	if err := wattfare.CheckUserID(claims.Subject); err != nil {
		return Session{}, err
	}
	if claims.ID == "" {
		return Session{}, errors.New("jti is required")
	}
	s.AppUserID, s.ID = claims.Subject, claims.ID
	if claims.MonthlyCapUSD != nil {
		cap, err := wattfare.ParseMoney(claims.MonthlyCapUSD.String())
		if err != nil || cap <= 0 || cap > wattfare.MaxMonthlyCap {
			return Session{}, errors.New("bad monthly_cap_usd")
		}
		s.MonthlyCap = cap
	}
	return s, nil
}

// maxTokenLen bounds a session token before anything is decoded. A real
// one is about 400 bytes; the longest an SDK can mint (a 256-byte user id of
// characters JSON escapes, such as "<") is about 2,600.
const maxTokenLen = 4096

// checkShape refuses what a JWT library would let through but no honest
// minter writes, so that the bytes Wattfare verifies mean one thing only:
// base64url with no padding and canonical trailing bits, JSON objects with
// no duplicate names (a duplicate "alg" or "sub" reads differently in other
// parsers), a header of exactly alg, typ and kid (no crit, jku, jwk, x5u:
// nothing in the token may choose how it is verified), an aud that is the
// single string "wattfare", and a monthly_cap_usd that is a JSON number.
func checkShape(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not three segments")
	}
	header, err := strictObject(parts[0])
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	for name := range header {
		if name != "alg" && name != "typ" && name != "kid" {
			return fmt.Errorf("header parameter %q is not allowed", name)
		}
	}
	claims, err := strictObject(parts[1])
	if err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if string(claims["aud"]) != `"`+wattfare.SessionAudience+`"` {
		return errors.New(`aud must be the string "` + wattfare.SessionAudience + `"`)
	}
	if raw, ok := claims["monthly_cap_usd"]; ok && (len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9'))) {
		return errors.New("monthly_cap_usd must be a number")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[2]); err != nil {
		return errors.New("signature is not canonical base64url")
	}
	return nil
}

// strictObject decodes one base64url segment into a JSON object whose
// names, at every depth, appear once.
func strictObject(segment string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	if !utf8.Valid(b) {
		return nil, errors.New("not UTF-8")
	}
	if err := noDuplicateNames(json.NewDecoder(bytes.NewReader(b))); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// noDuplicateNames walks one JSON value and fails on an object that names
// a member twice.
func noDuplicateNames(d *json.Decoder) error {
	tok, err := d.Token()
	if err != nil {
		return errors.New("not JSON")
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return errors.New("not JSON")
			}
			name, _ := k.(string)
			if seen[name] {
				return fmt.Errorf("duplicate name %q", name)
			}
			seen[name] = true
			if err := noDuplicateNames(d); err != nil {
				return err
			}
		}
		if _, err := d.Token(); err != nil {
			return errors.New("not JSON")
		}
	case json.Delim('['):
		for d.More() {
			if err := noDuplicateNames(d); err != nil {
				return err
			}
		}
		if _, err := d.Token(); err != nil {
			return errors.New("not JSON")
		}
	}
	return nil
}

// sessionStatus is GET /v1/session's answer.
type sessionStatus struct {
	Connected  bool            `json:"connected"`
	Status     string          `json:"status"` // "active", "revoked" or "not_connected"
	Mode       wattfare.Mode   `json:"mode"`
	App        sessionApp      `json:"app"`
	AppUserID  string          `json:"app_user_id"`
	MonthlyCap *wattfare.Money `json:"monthly_cap_usd"`
	Spent      *wattfare.Money `json:"spent_usd"`
	Remaining  *wattfare.Money `json:"remaining_usd"`
	ResetsAt   *time.Time      `json:"resets_at"`
	ConnectURL string          `json:"connect_url"`
}

type sessionApp struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// handleSession answers the app's browser: is this user connected, with
// what cap, how much is spent this period and when it resets. Only the
// app's registered origins may read the answer.
func (c *consent) handleSession(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	// Every answer depends on Origin and on the token: no cache may keep one
	// for another page or another user.
	w.Header().Add("Vary", "Origin")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodOptions {
		c.preflight(w, r, origin)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		c.allowRegisteredOrigin(w, r, origin)
		writeAPIError(w, http.StatusUnauthorized, "invalid_session", "send the session token as Authorization: Bearer <token>")
		return
	}
	s, err := c.verifier.Verify(r.Context(), strings.TrimSpace(token))
	if err != nil {
		// Let a registered app's page read why, so that its developer sees
		// "invalid_session" rather than an opaque CORS failure.
		c.allowRegisteredOrigin(w, r, origin)
		c.fail(w, r, err)
		return
	}
	if origin != "" {
		if !c.originAllowed(r, s, origin) {
			// No CORS headers: the browser keeps the answer from the page.
			writeAPIError(w, http.StatusForbidden, "origin_not_allowed", "this origin is not registered for the app")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	now := c.now()
	out := sessionStatus{
		Status: "not_connected", Mode: s.Mode, AppUserID: s.AppUserID,
		App:        sessionApp{ID: s.App.ID, Name: s.App.Name},
		ConnectURL: c.publicURL(r) + "/connect",
	}
	st, err := c.store.Connection(r.Context(), s.App.ID, s.Mode, s.AppUserID, now)
	switch {
	case err == nil:
		out.Status = string(st.Status)
		out.Connected = st.Status == wattfare.ConnectionActive
		out.MonthlyCap, out.Spent, out.Remaining, out.ResetsAt = &st.MonthlyCap, &st.Spent, &st.Remaining, &st.ResetsAt
	case wattfare.ErrorCode(err) == wattfare.ENOTFOUND:
	default:
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// preflight answers a CORS preflight, which carries no token: any origin
// that some app registered, and any developer's loopback origin
// (devOrigin; test-mode sessions accept them), may ask; the real request
// is checked against the token's own app and mode.
func (c *consent) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	if origin == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ok := c.devOrigin(r, origin)
	if !ok {
		var err error
		if ok, err = c.store.OriginRegistered(r.Context(), origin); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	if ok {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", "GET")
		h.Set("Access-Control-Allow-Headers", "Authorization")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowRegisteredOrigin lets origin read an error answer when some app
// registered it, or when it is a developer's loopback origin (an app in
// test mode, which would otherwise see a bare CORS failure). Error answers
// carry nothing about any user.
func (c *consent) allowRegisteredOrigin(w http.ResponseWriter, r *http.Request, origin string) {
	if origin == "" {
		return
	}
	if c.devOrigin(r, origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		return
	}
	if ok, err := c.store.OriginRegistered(r.Context(), origin); err == nil && ok {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
		// Metadata says how to fix it, e.g. the least cap allowed.
		Metadata map[string]any `json:"metadata,omitempty"`
	} `json:"error"`
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
