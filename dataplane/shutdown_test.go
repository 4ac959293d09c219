package dataplane_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestShutdownAnswersUnavailable: while the data plane shuts down, a stream
// already running completes, and requests that arrive meanwhile on open
// client connections get 503 unavailable in the OpenAI envelope — never a
// 500, and never the detail of an internal error.
func TestShutdownAnswersUnavailable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	addr := strings.TrimPrefix(e.dataURL, "http://")

	conn, br, _ := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=40]] [[sandbox:delay-ms=20]]", `,"stream":true`))
	defer conn.Close()
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	// Clients that have begun to send a request when the shutdown starts:
	// the data plane reads them while it stops.
	requests := []*http.Request{}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/chat/completions", chatBody("hi", "")},
		{"GET", "/v1/models", ""},
		{"GET", "/v1/budget", ""},
		{"POST", "/v1/embeddings", `{"model":"sandbox/embed","input":"hi"}`},
	} {
		req, _ := http.NewRequest(r.method, e.dataURL+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Wattfare-User", "u1")
		req.Header.Set("Content-Type", "application/json")
		requests = append(requests, req)
	}
	type client struct {
		c    net.Conn
		br   *bufio.Reader
		rest []byte
	}
	clients := make([]client, len(requests))
	for i, req := range requests {
		var raw bytes.Buffer
		req.Write(&raw)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		b := raw.Bytes()
		if _, err := c.Write(b[:10]); err != nil {
			t.Fatal(err)
		}
		clients[i] = client{c: c, br: bufio.NewReader(c), rest: b[10:]}
	}
	// Once accepted, a connection is not dropped as idle: it has sent bytes
	// (or is in its first seconds).
	eventually(t, "the server accepted every client", func() bool { return e.srv.OpenConnections() == 1+len(clients) })

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	eventually(t, "the shutdown started", func() bool { return e.srv.Draining() })

	for i, req := range requests {
		cl := clients[i]
		if _, err := cl.c.Write(cl.rest); err != nil {
			t.Errorf("%s %s: the connection was dropped while the request was sent: %v", req.Method, req.URL.Path, err)
			continue
		}
		resp, err := http.ReadResponse(cl.br, req)
		if err != nil {
			t.Errorf("%s %s during shutdown: no answer: %v", req.Method, req.URL.Path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || decodeErr(t, body).Error.Code != wattfare.EUnavailable {
			t.Errorf("%s %s during shutdown: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
		}
		if bytes.Contains(body, []byte("context canceled")) || bytes.Contains(body, []byte("catalog")) {
			t.Errorf("%s %s: internal detail leaked: %s", req.Method, req.URL.Path, body)
		}
	}

	// The stream that was running completes.
	var got strings.Builder
	io.Copy(&got, br) // the rest of the stream, to its end
	if s := got.String(); !strings.Contains(s, "[DONE]") || strings.Contains(s, `"error"`) {
		t.Errorf("the stream in flight did not complete:\n%s", s)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
