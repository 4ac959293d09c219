// Package demo is "Acme Chat", a tiny app that integrates Wattfare the way a
// developer would: its page has a "Connect AI budget" button (connect.js from
// the control plane), its backend mints session tokens with the Go SDK
// (sdk/go/wattfareapp) and calls the data plane with its secret key and the
// user's id. `wattfare dev` serves it on its own origin.
//
// What to copy, and what not:
//
//   - Copy: the secret key stays on the backend (the browser gets session
//     tokens and the publishable key, never the secret); the user id sent to
//     Wattfare (the token's sub, the Wattfare-User header) comes from the
//     backend's own session of the signed-in user, never from the request;
//     state-changing routes refuse cross-origin requests.
//   - Do not copy: the sign-in. The demo has no passwords: a GET with
//     ?user=NAME signs the browser in as NAME (default demo_user), so that
//     tests can be anyone. Your app uses its real login there. A URL that
//     signs people in is a login-CSRF hole: someone who signs a victim in as
//     themselves gets the victim to connect their budget to the wrong account.
//
// ?mode=live switches to the live keys.
package demo

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

//go:embed static
var static embed.FS

// Keys are an app's keys in one mode.
type Keys struct {
	Publishable string
	Secret      string
}

// Config is what the demo needs: where Wattfare is and the app's keys.
type Config struct {
	// ControlURL is the control plane as the browser sees it (connect.js,
	// the popup, GET /v1/session).
	ControlURL string
	// DataURL is the data plane, called from this backend only.
	DataURL string
	Test    Keys
	Live    Keys // optional: ?mode=live is refused without it
	// RequestedCap is what the demo asks users for.
	RequestedCap wattfare.Money
	Logger       *slog.Logger
}

type app struct {
	cfg     Config
	clients map[wattfare.Mode]*wattfareapp.Client
	page    *template.Template
	http    *http.Client
	// sessionKey signs the demo's session cookie. A fresh one per process:
	// a restart signs everyone out, which a demo can afford.
	sessionKey []byte
}

// Handler returns the demo app.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestedCap == 0 {
		cfg.RequestedCap = 10 * wattfare.Dollar
	}
	a := &app{cfg: cfg, clients: map[wattfare.Mode]*wattfareapp.Client{}, http: &http.Client{Timeout: 60 * time.Second},
		sessionKey: make([]byte, 32)}
	rand.Read(a.sessionKey)
	for mode, k := range map[wattfare.Mode]Keys{wattfare.ModeTest: cfg.Test, wattfare.ModeLive: cfg.Live} {
		if k.Secret == "" {
			continue
		}
		c, err := wattfareapp.New(k.Secret, k.Publishable)
		if err != nil {
			return nil, fmt.Errorf("demo %s keys: %w", mode, err)
		}
		a.clients[mode] = c
	}
	if len(a.clients) == 0 {
		return nil, errors.New("demo: no keys")
	}
	var err error
	if a.page, err = template.ParseFS(static, "static/index.html"); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.Handle("GET /static/", http.FileServerFS(static))
	mux.HandleFunc("GET /api/session", a.session)
	mux.HandleFunc("POST /api/chat", a.chat)
	// A route that spends the user's budget must not be callable by another
	// site's page in the user's browser.
	return http.NewCrossOriginProtection().Handler(a.demoSignIn(mux)), nil
}

const sessionCookie = "acme_session"

// demoSignIn is the demo's stand-in for a login page, and the one part of
// this package not to copy: a GET with ?user=NAME signs the browser in as
// NAME. Everything after it reads the user from the session cookie only
// (currentUser), as your routes read your own login session.
func (a *app) demoSignIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		_, signedIn := a.currentUser(r)
		if r.Method == http.MethodGet && (user != "" || (!signedIn && r.URL.Path == "/")) {
			if user == "" {
				user = "demo_user"
			}
			if err := wattfare.CheckUserID(user); err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody("invalid_request", err.Error()))
				return
			}
			c := &http.Cookie{Name: sessionCookie, Value: a.signUser(user), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
			http.SetCookie(w, c)
			r = r.Clone(r.Context())
			r.Header.Del("Cookie")
			r.AddCookie(c)
		}
		next.ServeHTTP(w, r)
	})
}

// signUser makes the session cookie's value: the user id and an HMAC of
// it, so the browser can hold it but not change it.
func (a *app) signUser(user string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(user)) + "." + enc.EncodeToString(a.mac([]byte(user)))
}

// mac is the session cookie's HMAC of user, made by signUser and checked
// by currentUser.
func (a *app) mac(user []byte) []byte {
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write(user)
	return m.Sum(nil)
}

// currentUser is the signed-in user, from the session cookie: the only
// place the user id that Wattfare charges comes from. Never take it from a
// query parameter, a form field or a header the browser sets.
func (a *app) currentUser(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	u, sig, ok := strings.Cut(c.Value, ".")
	enc := base64.RawURLEncoding
	user, err1 := enc.DecodeString(u)
	got, err2 := enc.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return "", false
	}
	if !hmac.Equal(got, a.mac(user)) {
		return "", false
	}
	return string(user), true
}

// mode is which of the app's key pairs to use. It is not who the user is,
// so the browser may choose it.
func mode(r *http.Request) wattfare.Mode {
	if r.URL.Query().Get("mode") == "live" {
		return wattfare.ModeLive
	}
	return wattfare.ModeTest
}

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	mode := mode(r)
	user, ok := a.currentUser(r)
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	a.page.Execute(w, map[string]any{
		"ControlURL": strings.TrimSuffix(a.cfg.ControlURL, "/"),
		"Mode":       string(mode),
		"User":       user,
		"HasLive":    a.clients[wattfare.ModeLive] != nil,
	})
}

// session is the one route an integrating backend must add: it mints a
// short-lived session token for the signed-in user.
func (a *app) session(w http.ResponseWriter, r *http.Request) {
	mode := mode(r)
	user, ok := a.currentUser(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, errorBody("sign_in_required", "sign in to Acme first"))
		return
	}
	c := a.clients[mode]
	if c == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request", "this demo has no "+string(mode)+" keys"))
		return
	}
	tok, err := c.CreateSession(user, a.cfg.RequestedCap)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request", err.Error()))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{
		"session_token": tok, "publishable_key": c.PublishableKey(), "mode": string(mode), "user": user,
	})
}

type chatRequest struct {
	Message string `json:"message"`
}

// chat sends the user's message through Wattfare's OpenAI-compatible data
// plane, charged to the user's budget, and returns the reply or Wattfare's
// typed error (not_connected, connection_revoked, cap_reached…).
func (a *app) chat(w http.ResponseWriter, r *http.Request) {
	mode := mode(r)
	user, ok := a.currentUser(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, errorBody("sign_in_required", "sign in to Acme first"))
		return
	}
	c := a.clients[mode]
	var in chatRequest
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody("invalid_request", "send application/json"))
		return
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil || strings.TrimSpace(in.Message) == "" || c == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request", "send {\"message\": \"…\"}"))
		return
	}
	body, _ := json.Marshal(map[string]any{
		"model":    "sandbox/echo",
		"messages": []map[string]string{{"role": "user", "content": in.Message}},
	})
	req, _ := http.NewRequestWithContext(r.Context(), "POST", strings.TrimSuffix(a.cfg.DataURL, "/")+"/v1/chat/completions", bytes.NewReader(body))
	secret := a.cfg.Test.Secret
	if mode == wattfare.ModeLive {
		secret = a.cfg.Live.Secret
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Wattfare-User", user)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.http.Do(req)
	if err != nil {
		a.cfg.Logger.Error("demo: data plane", "err", err)
		writeJSON(w, http.StatusBadGateway, errorBody("unavailable", "Wattfare's data plane could not be reached"))
		return
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
		Error *struct {
			Message  string         `json:"message"`
			Code     any            `json:"code"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		writeJSON(w, http.StatusBadGateway, errorBody("upstream_error", fmt.Sprintf("unreadable answer (HTTP %d)", res.StatusCode)))
		return
	}
	if res.StatusCode != http.StatusOK || out.Error != nil || len(out.Choices) == 0 {
		code, msg := "upstream_error", fmt.Sprintf("HTTP %d", res.StatusCode)
		var meta map[string]any
		if out.Error != nil {
			code, msg, meta = fmt.Sprint(out.Error.Code), out.Error.Message, out.Error.Metadata
		}
		b := errorBody(code, msg)
		if meta != nil {
			b["error"].(map[string]any)["metadata"] = meta
		}
		status := res.StatusCode
		if status == http.StatusOK {
			status = http.StatusBadGateway
		}
		writeJSON(w, status, b)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"reply":      out.Choices[0].Message.Content,
		"usage":      out.Usage,
		"request_id": res.Header.Get("Wattfare-Request-Id"),
	})
}

func errorBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
