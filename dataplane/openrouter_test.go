package dataplane_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
)

// openRouter emulates OpenRouter's documented wire: keep-alive comments
// while it works, X-Generation-Id, usage with cost on a final chunk that
// still carries a choice, a numeric error envelope before the stream and an
// error event mid-stream.
func openRouter(t *testing.T) (*httptest.Server, *atomic.Value) {
	var last atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer or-key" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":401,"message":"No auth credentials found"}}`))
			return
		}
		switch {
		case bytes.Contains(body, []byte("out of credits")):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(402)
			w.Write([]byte(`{"error":{"code":402,"message":"Insufficient credits","metadata":{}}}`))
			return
		case !bytes.Contains(body, []byte(`"stream":true`)):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"gen-1","object":"chat.completion","model":"openai/gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"cost":0.00042}}`))
			return
		}
		if !bytes.Contains(body, []byte(`"include_usage":true`)) {
			t.Errorf("the proxy did not ask OpenRouter for usage: %s", body)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Generation-Id", "gen-abc")
		fl := w.(http.Flusher)
		var sent []byte
		defer func() { last.Store(sent) }()
		send := func(s string) { sent = append(sent, s...); w.Write([]byte(s)); fl.Flush() }
		send(": OPENROUTER PROCESSING\n\n")
		send(": OPENROUTER PROCESSING\n\n")
		send(`data: {"id":"gen-abc","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}` + "\n\n")
		if bytes.Contains(body, []byte("mid-stream error")) {
			send(`data: {"id":"gen-abc","object":"chat.completion.chunk","error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n")
			return
		}
		send(`data: {"id":"gen-abc","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}]}` + "\n\n")
		send(`data: {"id":"gen-abc","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"cost":0.000123,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
		send("data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &last
}

func TestOpenRouter(t *testing.T) {
	t.Parallel()
	or, sent := openRouter(t)
	e := setup(t, func(c *dataplane.Config) {
		c.TestModeAnyUpstream = true
		c.Upstreams = append(c.Upstreams, &dataplane.Upstream{Name: "openrouter", BaseURL: or.URL + "/api/v1", APIKey: "or-key"})
	})
	e.exec(`INSERT INTO models (id, upstream, upstream_model, prompt_price, completion_price, max_output_tokens)
		VALUES ('openai/gpt-4o-mini', 'openrouter', 'openai/gpt-4o-mini', 150000, 600000, 1000)
		ON CONFLICT (id) DO UPDATE SET upstream = EXCLUDED.upstream, upstream_model = EXCLUDED.upstream_model,
			prompt_price = EXCLUDED.prompt_price, completion_price = EXCLUDED.completion_price, max_output_tokens = EXCLUDED.max_output_tokens`)
	body := func(content, extra string) string {
		return `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + content + `"}]` + extra + `}`
	}

	t.Run("OK", func(t *testing.T) {
		resp, b := e.call("POST", "/v1/chat/completions", "u1", body("hi", ""))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if c.Charged != 420_000 || c.PromptTokens != 12 {
			t.Errorf("charge %+v, want OpenRouter's cost $0.00042", c)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		resp, b := e.call("POST", "/v1/chat/completions", "u1", body("hi", `,"stream":true`))
		if resp.Header.Get("X-Generation-Id") != "gen-abc" {
			t.Errorf("generation id %q", resp.Header.Get("X-Generation-Id"))
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		// OpenRouter's usage rides on a chunk with a choice: it is passed
		// through (never re-encoded), keep-alive comments included.
		if want := sent.Load().([]byte); !bytes.Equal(b, want) {
			t.Errorf("client got\n%s\nOpenRouter sent\n%s", b, want)
		}
		c := e.charge(id)
		if c.Status != "ok" || c.Charged != 123_000 || c.CompletionTokens != 2 {
			t.Errorf("charge %+v, want $0.000123", c)
		}
	})

	t.Run("ErrMidStream", func(t *testing.T) {
		resp, b := e.call("POST", "/v1/chat/completions", "u1", body("mid-stream error", `,"stream":true`))
		s := string(b)
		if !strings.Contains(s, `"finish_reason":"error"`) || !strings.Contains(s, "Provider disconnected") {
			t.Errorf("stream:\n%s", s)
		}
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if c.Status != "upstream_error" || c.CompletionTokens < 1 || c.CompletionTokens > 2 || c.Charged == 0 {
			t.Errorf("charge %+v: the counted token is charged", c)
		}
	})

	t.Run("ErrUpstreamOutOfCredits", func(t *testing.T) {
		// OpenRouter's 402 is about Wattfare's own account there, not the
		// user's budget: an upstream_error, charged nothing.
		resp, b := e.call("POST", "/v1/chat/completions", "u1", body("out of credits", ""))
		if resp.StatusCode != 502 || decodeErr(t, b).Error.Code != wattfare.EUpstreamError {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.Charged != 0 {
			t.Errorf("charge %+v", c)
		}
	})
}
