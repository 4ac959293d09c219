package dataplane_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

func chatBody(content string, extra string) string {
	c, _ := json.Marshal(content)
	return `{"model":"sandbox/echo","messages":[{"role":"user","content":` + string(c) + `}]` + extra + `}`
}

func TestChat(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("OK", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("hello metered world", ""))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		if !strings.HasPrefix(id, "req_") || resp.Header.Get("Wattfare-Budget-Remaining") == "" {
			t.Errorf("headers %v", resp.Header)
		}
		if !bytes.Equal(body, e.sandbox.body(id)) {
			t.Errorf("client got\n%s\nupstream sent\n%s", body, e.sandbox.body(id))
		}
		c := e.charge(id)
		if c.Status != "ok" || c.PromptTokens != 3 || c.CompletionTokens != 3 || c.Charged != echoCost(3, 3) {
			t.Errorf("charge %+v, want 3+3 tokens for %v", c, echoCost(3, 3))
		}
	})

	t.Run("Stream", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("one two three four", `,"stream":true`))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, body)
		}
		id := resp.Header.Get("Wattfare-Request-Id")
		sent := e.sandbox.body(id)
		// The proxy asked for usage; the client did not, so the usage chunk is withheld.
		events := strings.SplitAfter(string(sent), "\n\n")
		var want strings.Builder
		withheld := 0
		for _, ev := range events {
			if strings.Contains(ev, `"choices":[],"usage":{`) {
				withheld++
				continue
			}
			want.WriteString(ev)
		}
		if withheld != 1 || string(body) != want.String() {
			t.Errorf("withheld %d; client got\n%s\nupstream sent\n%s", withheld, body, sent)
		}
		c := e.charge(id)
		if c.Status != "ok" || c.PromptTokens != 4 || c.CompletionTokens != 4 || c.Charged != echoCost(4, 4) {
			t.Errorf("charge %+v", c)
		}
	})

	t.Run("StreamIncludeUsage", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("a b", `,"stream":true,"stream_options":{"include_usage":true}`))
		id := resp.Header.Get("Wattfare-Request-Id")
		if !bytes.Equal(body, e.sandbox.body(id)) || !bytes.Contains(body, []byte(`"usage":{"prompt_tokens":2`)) {
			t.Errorf("client got\n%s\nupstream sent\n%s", body, e.sandbox.body(id))
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/embeddings", "u1", `{"model":"sandbox/embed","input":["one two","three"]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if c.PromptTokens != 3 || c.Charged != wattfare.Price(100_000).Cost(3) {
			t.Errorf("charge %+v", c)
		}
	})

	t.Run("Models", func(t *testing.T) {
		resp, body := e.call("GET", "/v1/models", "", "")
		var got struct {
			Data []struct {
				ID      string
				Pricing struct{ Prompt, Completion string }
			}
		}
		json.Unmarshal(body, &got)
		// A test key lists the whole catalog: the sandbox simulates the
		// models it does not have.
		var ids []string
		prices := map[string][2]string{}
		for _, m := range got.Data {
			ids = append(ids, m.ID)
			prices[m.ID] = [2]string{m.Pricing.Prompt, m.Pricing.Completion}
		}
		want := []string{"anthropic/claude-sonnet-4", "openai/gpt-4o", "openai/gpt-4o-mini", "openai/text-embedding-3-small", "sandbox/echo", "sandbox/embed", "sandbox/pricey"}
		if resp.StatusCode != 200 || !slices.Equal(ids, want) {
			t.Errorf("status %d, models %v, want %v", resp.StatusCode, ids, want)
		}
		if p := prices["sandbox/echo"]; p != [2]string{"0.000001", "0.000002"} {
			t.Errorf("sandbox/echo priced %v: %s", p, body)
		}
		if p := prices["anthropic/claude-sonnet-4"]; p != [2]string{"0.000003", "0.000015"} {
			t.Errorf("anthropic/claude-sonnet-4 priced %v: %s", p, body)
		}
	})

	t.Run("Budget", func(t *testing.T) {
		// A user with one settled request: the budget shows it spent at
		// once, nothing held, and the rest of the cap remaining until the
		// first instant of next month (UTC).
		e.connect("budget", wattfare.USD(10))
		r, _ := e.call("POST", "/v1/chat/completions", "budget", chatBody("[[sandbox:tokens=40]]", ""))
		c := e.charge(r.Header.Get("Wattfare-Request-Id"))
		resp, body := e.call("GET", "/v1/budget", "budget", "")
		var got struct {
			User      string         `json:"user"`
			Cap       wattfare.Money `json:"cap_usd"`
			Spent     wattfare.Money `json:"spent_usd"`
			Held      wattfare.Money `json:"held_usd"`
			Remaining wattfare.Money `json:"remaining_usd"`
			ResetsAt  time.Time      `json:"resets_at"`
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %s (%v)", resp.StatusCode, body, err)
		}
		now := time.Now().UTC()
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		if got.User != "budget" || got.Cap != wattfare.USD(10) || c.Charged == 0 || got.Spent != c.Charged || got.Held != 0 ||
			got.Remaining != wattfare.USD(10)-c.Charged || !got.ResetsAt.Equal(next) {
			t.Errorf("budget %s, want spent %s of 10.00 and resets_at %s", body, c.Charged, next.Format(time.RFC3339))
		}
		if h := resp.Header.Get("Wattfare-Budget-Remaining"); h != got.Remaining.String() {
			t.Errorf("header %q, body %s", h, got.Remaining)
		}
	})
}

func TestChatErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.connect("revoked", wattfare.USD(10))
	e.exec(`UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_user_id = 'revoked'`)
	e.connect("capped", wattfare.MicroDollar*1000) // $0.001: less than a default echo hold
	e.connect("nocap", 0)
	// A user whose wallet holds a hundredth of a cent, under a $10 cap.
	e.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_poor', 'poor@example.com', 'x')`)
	e.exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ('acct_poor', 'test', 100000)`)
	e.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ('conn_poor', $1, 'test', 'poor', 'acct_poor', $2)`,
		e.app, int64(wattfare.USD(10)))

	tests := []struct {
		name   string
		user   string
		body   string
		key    string
		status int
		code   string
		source string
	}{
		{"ErrNotConnected", "stranger", chatBody("hi", ""), "", 403, wattfare.ENotConnected, "connection"},
		{"ErrConnectionRevoked", "revoked", chatBody("hi", ""), "", 403, wattfare.EConnectionRevoked, "connection"},
		{"ErrCapReached", "nocap", chatBody("hi", ""), "", 402, wattfare.ECapReached, ""},
		{"ErrBudgetExhausted", "poor", `{"model":"sandbox/pricey","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, "", 402, wattfare.EBudgetExhausted, "wallet"},
		{"ErrModelNotFound", "u1", `{"model":"nope/nope","messages":[]}`, "", 404, wattfare.EModelNotFound, ""},
		{"ErrBadJSON", "u1", `{"model":`, "", 400, wattfare.EInvalidRequest, ""},
		{"ErrMissingUser", "", chatBody("hi", ""), "", 400, wattfare.EInvalidRequest, ""},
		{"ErrBadChecksum", "u1", chatBody("hi", ""), "flip", 401, wattfare.EInvalidAPIKey, ""},
		{"ErrUnknownKey", "u1", chatBody("hi", ""), "other", 401, wattfare.EInvalidAPIKey, ""},
		{"ErrTooLarge", "u1", chatBody(strings.Repeat("word ", 20_000), ""), "", 413, wattfare.ERequestTooLarge, ""},
		{"ErrUpstream502", "u1", chatBody("x [[sandbox:fail-before-first-byte]]", ""), "", 502, wattfare.EUpstreamError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := e.key
			switch tt.key {
			case "flip":
				key = key[:len(key)-1] + string("ab"[map[bool]int{true: 1, false: 0}[key[len(key)-1] == 'a']])
			case "other":
				key = wattfare.NewSecretKey(wattfare.ModeTest).String()
			}
			req, _ := http.NewRequest("POST", e.dataURL+"/v1/chat/completions", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+key)
			if tt.user != "" {
				req.Header.Set("Wattfare-User", tt.user)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb errBody
			json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != tt.status || eb.Error.Code != tt.code || eb.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, eb.Error, tt.status, tt.code)
			}
			id := resp.Header.Get("Wattfare-Request-Id")
			if !strings.HasPrefix(id, "req_") {
				t.Errorf("no request id on an error")
			}
			if tt.source != "" && (eb.Error.Metadata["limit_source"] != tt.source || eb.Error.Metadata["connect_url"] != "http://control.test/budget") {
				t.Errorf("metadata %v", eb.Error.Metadata)
			}
			if tt.code == wattfare.EUpstreamError {
				c := e.charge(id)
				if c.Charged != 0 || c.Status != "upstream_error" {
					t.Errorf("charge %+v, want nothing", c)
				}
			} else {
				e.noCharge(id)
			}
		})
	}

	t.Run("ErrCapReachedMetadata", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "nocap", chatBody("hi", ""))
		eb := decodeErr(t, body)
		if resp.StatusCode != 402 || eb.Error.Metadata["cap_usd"] == nil || eb.Error.Metadata["connect_url"] == nil {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("ClampToFairShare", func(t *testing.T) {
		// A whole answer without max_tokens holds at most a twentieth of
		// the cap ($0.00005 of $0.001: 25 tokens at $2/M, less the
		// prompt), and the upstream is told that limit: the answer stops
		// there, and it costs no more than was held.
		resp, body := e.call("POST", "/v1/chat/completions", "capped", chatBody("[[sandbox:tokens=1000]]", ""))
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"finish_reason":"length"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
		if c.CompletionTokens > 25 || c.CompletionTokens < 10 || c.Charged != c.Cost || e.captured("capped") > wattfare.MicroDollar*1000/20+echoCost(c.PromptTokens, 0) {
			t.Errorf("charge %+v, captured %v", c, e.captured("capped"))
		}
	})
}

// rawStream posts a streaming request and reads the raw SSE bytes, letting
// the test stop reading whenever it wants.
func (e *env) rawStream(t *testing.T, user, body string) (net.Conn, *bufio.Reader, http.Header) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.dataURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.dataURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Wattfare-User", user)
	req.Write(conn)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(resp.Body), resp.Header
}

func TestStreamFailures(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("ErrUpstreamDropsMidStream", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=10]] [[sandbox:fail-mid-stream]]", `,"stream":true`))
		id := resp.Header.Get("Wattfare-Request-Id")
		s := string(body)
		if !strings.Contains(s, `"code":"upstream_error"`) || !strings.Contains(s, `"finish_reason":"error"`) || strings.Contains(s, "[DONE]") {
			t.Fatalf("stream:\n%s", s)
		}
		// Charged for what was counted of the 5 tokens delivered (from
		// above: a token per 3 bytes of " echo") and the prompt estimate.
		c := e.charge(id)
		if c.Status != "upstream_error" || c.CompletionTokens < 5 || c.CompletionTokens > 10 || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) || c.PromptTokens < 2 {
			t.Errorf("charge %+v", c)
		}
	})

	t.Run("MissingUsage", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=7]] [[sandbox:no-usage]]", `,"stream":true`))
		id := resp.Header.Get("Wattfare-Request-Id")
		if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
			t.Fatalf("stream:\n%s", body)
		}
		c := e.charge(id)
		// No usage: charged what was counted, from above (7 tokens sent).
		if c.Status != "ok" || c.CompletionTokens < 7 || c.CompletionTokens > 14 || c.Charged == 0 || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) {
			t.Errorf("charge %+v", c)
		}
	})

	t.Run("ClientDisconnect", func(t *testing.T) {
		conn, br, hdr := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=200]] [[sandbox:delay-ms=5]]", `,"stream":true`))
		id := hdr.Get("Wattfare-Request-Id")
		// Read the role chunk and three tokens, then hang up.
		for i := 0; i < 4; {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "data: ") {
				i++
			}
		}
		conn.Close()
		c := e.charge(id)
		if c.Status != "client_closed" || c.CompletionTokens < 3 || c.CompletionTokens >= 200 || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) {
			t.Errorf("charge %+v", c)
		}
		// The upstream stopped generating too: the sandbox saw its client go.
		deadline := time.Now().Add(10 * time.Second)
		for e.sandbox.body(id) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := strings.Count(string(e.sandbox.body(id)), `"content":`); n >= 200 {
			t.Errorf("upstream sent all %d chunks", n)
		}
	})
}

// TestCut: an upstream that runs past max_tokens makes the stream cost more
// than its hold; when the hold cannot grow (the cap is reached) the stream
// is cut with cap_reached, and no more than the cap is captured.
func TestCut(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.connect("small", 200*wattfare.MicroDollar) // 100 echo tokens
	e.sandbox.override = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 300; i++ {
			if _, err := w.Write([]byte(`data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok"},"finish_reason":null}]}` + "\n\n")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		w.Write([]byte("data: [DONE]\n\n"))
	}
	resp, body := e.call("POST", "/v1/chat/completions", "small", chatBody("hi", `,"stream":true,"max_tokens":10`))
	s := string(body)
	if !strings.Contains(s, `"code":"cap_reached"`) || !strings.Contains(s, `"finish_reason":"error"`) || strings.Contains(s, "[DONE]") {
		t.Fatalf("stream not cut:\n…%s", s[max(0, len(s)-500):])
	}
	c := e.charge(resp.Header.Get("Wattfare-Request-Id"))
	if c.Status != "cut" || c.Charged > 200*wattfare.MicroDollar || c.Charged < 150*wattfare.MicroDollar {
		t.Errorf("charge %+v", c)
	}
	if got := e.captured("small"); got > 200*wattfare.MicroDollar {
		t.Errorf("captured %v over the cap", got)
	}
	_ = context.Background
}
