package demo_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/demo"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	sk := wattfare.NewSecretKey(wattfare.ModeTest)
	pk := wattfare.PublishableKey{App: wattfare.NewAppID(), Mode: wattfare.ModeTest}
	var gotAuth, gotUser string
	data := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotUser = r.Header.Get("Authorization"), r.Header.Get("Wattfare-User")
		w.Header().Set("Content-Type", "application/json")
		if gotUser == "revoked_user" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"message":"the user revoked this app","type":"permission_error","code":"connection_revoked","param":null}}`)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hello there"}}],"usage":{"prompt_tokens":2,"completion_tokens":2}}`)
	}))
	t.Cleanup(data.Close)
	h, err := demo.Handler(demo.Config{ControlURL: "http://control.test", DataURL: data.URL, Test: demo.Keys{Publishable: pk.String(), Secret: sk.String()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	var seen strings.Builder // every answer, to check that the secret key never reaches the browser
	do := func(c *http.Client, method, path, ctype, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		fmt.Fprintf(&seen, "%v\n%s\n", res.Header, b)
		return res.StatusCode, string(b)
	}
	get := func(path string) (int, string) { return do(browser, "GET", path, "", "", nil) }
	chat := func(c *http.Client, path string, hdr map[string]string) (int, map[string]any) {
		t.Helper()
		gotUser = ""
		code, body := do(c, "POST", path, "application/json", `{"message":"hello there"}`, hdr)
		var out map[string]any
		json.Unmarshal([]byte(body), &out)
		return code, out
	}

	// The demo's sign-in: alice.
	if code, body := get("/?user=alice"); code != 200 || !strings.Contains(body, `src="http://control.test/v1/connect.js"`) || !strings.Contains(body, "Connect AI budget") {
		t.Errorf("page: %d %s", code, body)
	}
	code, body := get("/api/session")
	var s struct {
		SessionToken string `json:"session_token"`
		User         string `json:"user"`
	}
	json.Unmarshal([]byte(body), &s)
	if code != 200 || strings.Count(s.SessionToken, ".") != 2 || s.User != "alice" {
		t.Errorf("session: %d %s", code, body)
	}
	if code, _ := get("/api/session?mode=live"); code != http.StatusBadRequest {
		t.Errorf("live session without live keys: %d", code)
	}
	for _, f := range []string{"/static/app.js", "/static/app.css", "/static/index.html", "/nope"} {
		get(f)
	}

	t.Run("OKChargesTheSignedInUser", func(t *testing.T) {
		if code, out := chat(browser, "/api/chat", nil); code != 200 || out["reply"] != "hello there" || gotAuth != "Bearer "+sk.String() || gotUser != "alice" {
			t.Errorf("chat: %d %v (auth %q user %q)", code, out, gotAuth, gotUser)
		}
	})
	t.Run("ErrUserFromTheRequestIsIgnored", func(t *testing.T) {
		// alice's browser (or a script in it) names another user: the
		// backend still charges alice, the user it signed in.
		if code, _ := chat(browser, "/api/chat?user=victim", map[string]string{"Wattfare-User": "victim"}); code != 200 || gotUser != "alice" {
			t.Errorf("charged %q, want alice", gotUser)
		}
	})
	t.Run("ErrNotSignedIn", func(t *testing.T) {
		if code, _ := chat(http.DefaultClient, "/api/chat?user=alice", nil); code != http.StatusUnauthorized || gotUser != "" {
			t.Errorf("no session: %d, data plane called for %q", code, gotUser)
		}
		forged := map[string]string{"Cookie": "acme_session=" + base64.RawURLEncoding.EncodeToString([]byte("victim")) + ".AAAA"}
		if code, _ := chat(http.DefaultClient, "/api/chat", forged); code != http.StatusUnauthorized || gotUser != "" {
			t.Errorf("forged session: %d, data plane called for %q", code, gotUser)
		}
		if code, _ := do(http.DefaultClient, "GET", "/api/session", "", "", forged); code != http.StatusUnauthorized {
			t.Errorf("session token for a forged session: %d", code)
		}
	})
	t.Run("ErrCrossSite", func(t *testing.T) {
		if code, _ := chat(browser, "/api/chat", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden || gotUser != "" {
			t.Errorf("cross-site chat: %d, data plane called for %q", code, gotUser)
		}
		if code, _ := do(browser, "POST", "/api/chat", "text/plain", `{"message":"hi"}`, nil); code != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain chat: %d", code)
		}
	})
	t.Run("ErrRevoked", func(t *testing.T) {
		get("/?user=revoked_user")
		code, out := chat(browser, "/api/chat", nil)
		if e, _ := out["error"].(map[string]any); code != http.StatusForbidden || e["code"] != "connection_revoked" {
			t.Errorf("revoked chat: %d %v", code, out)
		}
	})
	if strings.Contains(seen.String(), sk.String()) || strings.Contains(seen.String(), sk.String()[len("sk_test_"):]) {
		t.Error("an answer to the browser carries the secret key")
	}
}
