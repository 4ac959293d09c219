package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// TestDevCurl runs the banner's curl as a newcomer pastes it into bash and
// checks what reaches the data plane: the seeded key, the connected user,
// and a streaming request for a catalog model.
func TestDevCurl(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, auth, user string
		body             map[string]any
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		got <- seen{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Wattfare-User"), body}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	info := &devInfo{DataURL: srv.URL, App: devApp{SecretKey: "sk_test_abc123"}, ConnectedUserID: "demo_user"}
	out, err := exec.Command("bash", "-c", devCurl(info)).CombinedOutput()
	if err != nil {
		t.Fatalf("bash -c <the banner's curl>: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "data: [DONE]") {
		t.Errorf("curl printed %q, want the stream", out)
	}
	s := <-got
	if s.path != "/v1/chat/completions" || s.auth != "Bearer sk_test_abc123" || s.user != "demo_user" {
		t.Errorf("request %s, Authorization %q, Wattfare-User %q", s.path, s.auth, s.user)
	}
	if s.body["stream"] != true || s.body["model"] != devCurlModel {
		t.Errorf("body %v, want a stream of %s", s.body, devCurlModel)
	}
}
