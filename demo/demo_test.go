package demo_test

import (
	"encoding/json"
	"io"
	"net/http"
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

	get := func(path string) (int, string) {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/?user=alice"); code != 200 || !strings.Contains(body, `src="http://control.test/v1/connect.js"`) || !strings.Contains(body, "Connect AI budget") {
		t.Errorf("page: %d %s", code, body)
	}
	code, body := get("/api/session?user=alice")
	var s struct {
		SessionToken string `json:"session_token"`
	}
	json.Unmarshal([]byte(body), &s)
	if code != 200 || strings.Count(s.SessionToken, ".") != 2 {
		t.Errorf("session: %d %s", code, body)
	}
	if code, _ := get("/api/session?mode=live"); code != http.StatusBadRequest {
		t.Errorf("live session without live keys: %d", code)
	}

	chat := func(user string) (int, map[string]any) {
		res, err := http.Post(srv.URL+"/api/chat?user="+user, "application/json", strings.NewReader(`{"message":"hello there"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if code, out := chat("alice"); code != 200 || out["reply"] != "hello there" || gotAuth != "Bearer "+sk.String() || gotUser != "alice" {
		t.Errorf("chat: %d %v (auth %q user %q)", code, out, gotAuth, gotUser)
	}
	code, out := chat("revoked_user")
	if e, _ := out["error"].(map[string]any); code != http.StatusForbidden || e["code"] != "connection_revoked" {
		t.Errorf("revoked chat: %d %v", code, out)
	}
}
