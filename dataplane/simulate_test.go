package dataplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
)

// sonnet is what tokens of anthropic/claude-sonnet-4 cost ($3 / $15 per
// million, migrations/011_catalog_real_models.sql).
func sonnet(prompt, completion int64) wattfare.Money {
	return wattfare.Price(3_000_000).Cost(prompt) + wattfare.Price(15_000_000).Cost(completion)
}

func sonnetBody(content, extra string) string {
	c, _ := json.Marshal(content)
	return `{"model":"anthropic/claude-sonnet-4","messages":[{"role":"user","content":` + string(c) + `}]` + extra + `}`
}

// usageModel is the model and upstream a settled request was recorded under.
func (e *env) usageModel(reqID string) (model, upstream string) {
	e.t.Helper()
	e.charge(reqID) // waits for the settlement
	if err := e.pool.QueryRow(context.Background(), `SELECT model, upstream FROM usage_events WHERE request_id = $1`, reqID).Scan(&model, &upstream); err != nil {
		e.t.Fatal(err)
	}
	return model, upstream
}

// TestTestModeSimulatesCatalogModels: a test key calling a real model of
// the catalog gets the sandbox's simulation of it, marked
// Wattfare-Simulated, in that model's name, charged at that model's prices
// to the user's test budget, with the sandbox's switches working as for
// sandbox/echo.
func TestTestModeSimulatesCatalogModels(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("OK", func(t *testing.T) {
		e.connect("whole", wattfare.USD(10))
		resp, body := e.call("POST", "/v1/chat/completions", "whole", sonnetBody("hello from test mode", ""))
		if resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" {
			t.Fatalf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
		var got struct {
			Model   string
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				Prompt     int64 `json:"prompt_tokens"`
				Completion int64 `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Choices) != 1 {
			t.Fatalf("%v: %s", err, body)
		}
		if got.Model != "anthropic/claude-sonnet-4" || got.Choices[0].Message.Content != "hello from test mode" || got.Usage.Prompt != 4 || got.Usage.Completion != 4 {
			t.Errorf("answer %s, want the echo in claude-sonnet-4's name with 4 + 4 tokens", body)
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		c := e.charge(id)
		if c.Status != "ok" || c.PromptTokens != 4 || c.CompletionTokens != 4 || c.Cost != sonnet(4, 4) || c.Charged != c.Cost {
			t.Errorf("charge %+v, want 4 + 4 tokens at claude-sonnet-4's price, %v", c, sonnet(4, 4))
		}
		if m, up := e.usageModel(id); m != "anthropic/claude-sonnet-4" || up != "sandbox" {
			t.Errorf("recorded as %s on %s, want anthropic/claude-sonnet-4 answered by the sandbox", m, up)
		}
		if spent := e.budget(t, "whole").Spent; spent != sonnet(4, 4) {
			t.Errorf("the user's budget shows %v spent, want %v", spent, sonnet(4, 4))
		}
	})

	t.Run("Stream", func(t *testing.T) {
		e.connect("stream", wattfare.USD(10))
		resp, body := e.call("POST", "/v1/chat/completions", "stream", sonnetBody("a b c [[sandbox:tokens=30]]", `,"stream":true,"stream_options":{"include_usage":true}`))
		if resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %v: %s", resp.StatusCode, resp.Header, body)
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		// The simulation's stream is passed through byte for byte, as an
		// upstream's is.
		if sent := e.sandbox.body(id); !bytes.Equal(body, sent) {
			t.Errorf("client got\n%s\nthe sandbox sent\n%s", body, sent)
		}
		if !bytes.Contains(body, []byte(`"model":"anthropic/claude-sonnet-4"`)) || !bytes.Contains(body, []byte(`"completion_tokens":30`)) || !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
			t.Errorf("stream:\n%s", body)
		}
		c := e.charge(id)
		// The sandbox counts words, the switch one of them.
		if c.Status != "ok" || c.PromptTokens != 4 || c.CompletionTokens != 30 || c.Cost != sonnet(4, 30) || c.Charged != c.Cost {
			t.Errorf("charge %+v, want %v", c, sonnet(4, 30))
		}
		if spent := e.budget(t, "stream").Spent; spent != sonnet(4, 30) {
			t.Errorf("the user's budget shows %v spent, want %v", spent, sonnet(4, 30))
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/embeddings", "u1", `{"model":"openai/text-embedding-3-small","input":["one two","three"]}`)
		if resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" || !bytes.Contains(body, []byte(`"model":"openai/text-embedding-3-small"`)) {
			t.Fatalf("%d %v: %s", resp.StatusCode, resp.Header, body)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.PromptTokens != 3 || c.Charged != wattfare.Price(20_000).Cost(3) {
			t.Errorf("charge %+v, want 3 tokens at $0.02 per million", c)
		}
	})

	t.Run("SandboxModel", func(t *testing.T) {
		// The sandbox's own models are simulated too, and say so.
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("hi", ""))
		if resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" {
			t.Errorf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
	})

	t.Run("MaxOutputTokens", func(t *testing.T) {
		// openai/gpt-4o writes at most 16384 tokens: so does its simulation.
		resp, body := e.call("POST", "/v1/chat/completions", "u1",
			`{"model":"openai/gpt-4o","messages":[{"role":"user","content":"go [[sandbox:tokens=17000]]"}]}`)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"finish_reason":"length"`)) || !bytes.Contains(body, []byte(`"completion_tokens":16384`)) {
			t.Fatalf("%d: %.300s", resp.StatusCode, body)
		}
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if want := wattfare.Price(2_500_000).Cost(2) + wattfare.Price(10_000_000).Cost(16384); c.Cost != want {
			t.Errorf("charge %+v, want %v", c, want)
		}
	})

	t.Run("ErrFailBeforeFirstByte", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", sonnetBody("x [[sandbox:fail-before-first-byte]]", ""))
		if resp.StatusCode != 502 || decodeErr(t, body).Error.Code != wattfare.EUpstreamError || resp.Header.Get("Wattfare-Simulated") != "true" {
			t.Errorf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.Status != "upstream_error" || c.Charged != 0 {
			t.Errorf("charge %+v, want nothing for a failure before the first byte", c)
		}
	})

	t.Run("ErrFailMidStream", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", sonnetBody("[[sandbox:tokens=10]] [[sandbox:fail-mid-stream]]", `,"stream":true`))
		if resp.Header.Get("Wattfare-Simulated") != "true" || !bytes.Contains(body, []byte(`"code":"upstream_error"`)) {
			t.Errorf("Wattfare-Simulated %q:\n%s", resp.Header.Get("Wattfare-Simulated"), body)
		}
		// Charged, as for any upstream without usage, what was counted of
		// the 5 tokens delivered (a token per 3 bytes at most) and the
		// prompt's estimate, at claude-sonnet-4's price.
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if c.Status != "upstream_error" || c.CompletionTokens < 5 || c.CompletionTokens > 10 || c.PromptTokens < 2 || c.Charged != sonnet(c.PromptTokens, c.CompletionTokens) {
			t.Errorf("charge %+v, want the tokens delivered at claude-sonnet-4's price", c)
		}
	})

	t.Run("NoUsage", func(t *testing.T) {
		// No usage from the simulation: what was counted is charged at the
		// model's price, as for a real upstream.
		resp, body := e.call("POST", "/v1/chat/completions", "u1", sonnetBody("one two three [[sandbox:no-usage]]", `,"stream":true`))
		if resp.StatusCode != 200 || bytes.Contains(body, []byte(`"usage":{`)) {
			t.Fatalf("%d:\n%s", resp.StatusCode, body)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.CompletionTokens < 3 || c.CompletionTokens > 6 || c.PromptTokens < 4 || c.Charged != sonnet(c.PromptTokens, c.CompletionTokens) {
			t.Errorf("charge %+v, want the estimated prompt and the 3 tokens counted at claude-sonnet-4's price", c)
		}
	})

	t.Run("ContextWindow", func(t *testing.T) {
		// The simulation keeps to the model's context window: a prompt
		// over it is refused as an upstream refuses it (and costs
		// nothing), and a reply stops where the window ends.
		e.exec(`UPDATE models SET context_length = 10 WHERE id = 'openai/gpt-4o-mini'`)
		mini := func(content string) string {
			return `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + content + `"}]}`
		}
		var resp *http.Response
		var body []byte
		eventually(t, "the new context window applies", func() bool {
			resp, body = e.call("POST", "/v1/chat/completions", "u1", mini("1 2 3 4 5 6 7 8 9 10 11"))
			return resp.StatusCode == 400
		})
		eb := decodeErr(t, body)
		if eb.Error.Code != "context_length_exceeded" || resp.Header.Get("Wattfare-Simulated") != "true" || !strings.Contains(eb.Error.Message, "maximum context length is 10 tokens") {
			t.Errorf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.Charged != 0 {
			t.Errorf("charge %+v for a refused prompt", c)
		}
		resp, body = e.call("POST", "/v1/chat/completions", "u1", mini("1 2 3 4 5 6 7 [[sandbox:tokens=9]]"))
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"finish_reason":"length"`)) || !bytes.Contains(body, []byte(`"completion_tokens":2`)) {
			t.Errorf("%d: %s, want 2 tokens, what 8 of the prompt leave of the window", resp.StatusCode, body)
		}
	})

	t.Run("ErrUnknownModel", func(t *testing.T) {
		// Only catalog models are simulated.
		resp, body := e.call("POST", "/v1/chat/completions", "u1", `{"model":"anthropic/claude-opus-9","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 404 || decodeErr(t, body).Error.Code != wattfare.EModelNotFound || resp.Header.Get("Wattfare-Simulated") != "" {
			t.Errorf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
	})

	t.Run("ErrEmbeddingModelOnChat", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", `{"model":"openai/text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 404 || decodeErr(t, body).Error.Code != wattfare.EModelNotFound {
			t.Errorf("%d: %s", resp.StatusCode, body)
		}
	})
}

// liveKey gives the env's app a live key, and its user a live connection
// with a live wallet.
func (e *env) liveKey(user string) string {
	e.t.Helper()
	sk := wattfare.NewSecretKey(wattfare.ModeLive)
	hash := wattfare.HashSecretKey(sk.String())
	e.exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'live', $3, $4, 'live')`,
		sk.ID.String(), e.app, hash[:], []byte(sk.PublicKey()))
	e.exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'live', $2) ON CONFLICT DO NOTHING`, e.account, int64(wattfare.USD(20)))
	e.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'live', $3, $4, $5)`,
		wattfare.NewID("conn_"), e.app, user, e.account, int64(wattfare.USD(10)))
	return sk.String()
}

// TestLiveModeCallsTheUpstream: a live key calling a catalog model goes to
// the model's own upstream and is never marked simulated; without that
// upstream the model is not served. Test keys on the same data plane keep
// getting the simulation.
func TestLiveModeCallsTheUpstream(t *testing.T) {
	t.Parallel()

	t.Run("ErrNoUpstream", func(t *testing.T) {
		t.Parallel()
		e := setup(t) // the sandbox only, as `wattfare dev` without an OpenRouter key
		live := e.liveKey("lu")
		resp, body := e.callWith(live, "POST", "/v1/chat/completions", "lu", sonnetBody("hi", ""))
		if resp.StatusCode != 404 || decodeErr(t, body).Error.Code != wattfare.EModelNotFound || resp.Header.Get("Wattfare-Simulated") != "" {
			t.Errorf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
		if resp, body := e.call("POST", "/v1/chat/completions", "u1", sonnetBody("hi", "")); resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" {
			t.Errorf("test key: %d %s", resp.StatusCode, body)
		}
		// A sandbox model is the sandbox whoever calls it, and says so.
		if resp, body := e.callWith(live, "POST", "/v1/chat/completions", "lu", chatBody("hi", "")); resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" {
			t.Errorf("live key, sandbox/echo: %d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
	})

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var asked []byte
		lastAsked := func() []byte { mu.Lock(); defer mu.Unlock(); return asked }
		or := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			asked = b
			mu.Unlock()
			if r.Header.Get("Wattfare-Simulate") != "" {
				t.Errorf("the real upstream was asked to simulate")
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"gen-1","object":"chat.completion","model":"anthropic/claude-sonnet-4","choices":[{"index":0,"message":{"role":"assistant","content":"Hi from the real one"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":5,"total_tokens":13}}`))
		}))
		t.Cleanup(or.Close)
		e := setup(t, func(c *dataplane.Config) {
			c.Upstreams = append(c.Upstreams, &dataplane.Upstream{Name: "openrouter", BaseURL: or.URL + "/api/v1"})
		})
		live := e.liveKey("lu")
		resp, body := e.callWith(live, "POST", "/v1/chat/completions", "lu", sonnetBody("hi", ""))
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Hi from the real one")) || resp.Header.Get("Wattfare-Simulated") != "" {
			t.Fatalf("%d, Wattfare-Simulated %q: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), body)
		}
		if a := lastAsked(); !bytes.Contains(a, []byte(`"model":"anthropic/claude-sonnet-4"`)) {
			t.Errorf("the upstream was asked %s", a)
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		if c := e.charge(id); c.Charged != sonnet(8, 5) {
			t.Errorf("charge %+v, want %v", c, sonnet(8, 5))
		}
		if m, up := e.usageModel(id); m != "anthropic/claude-sonnet-4" || up != "openrouter" {
			t.Errorf("recorded as %s on %s", m, up)
		}
		// The same data plane simulates the model for test keys: the real
		// upstream is not called.
		before := lastAsked()
		resp, body = e.call("POST", "/v1/chat/completions", "u1", sonnetBody("a test-mode call", ""))
		if a := lastAsked(); resp.StatusCode != 200 || resp.Header.Get("Wattfare-Simulated") != "true" || !bytes.Equal(a, before) {
			t.Errorf("test key: %d, Wattfare-Simulated %q, upstream asked %s: %s", resp.StatusCode, resp.Header.Get("Wattfare-Simulated"), a, body)
		}
	})
}
