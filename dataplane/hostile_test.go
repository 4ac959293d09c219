package dataplane_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/internal/fakeupstream"
)

// This file tests metering from the client's side, against hostile requests
// and imperfect upstreams (DESIGN.md, "Metering rules"): for every reply
// delivered, the cost of what the client received is at most what the
// ledger charged for the request plus one token's price, and no connection
// ever spends more than its cap. A request refused with 400 reaches no
// upstream and leaves no usage event and no charge.
//
// What a reply delivered costs is counted by the client: every completion
// token it received (content, tool-call arguments and streamed reasoning, in
// every choice; fakeupstream makes each token the word fakeupstream.Token,
// so any text can be counted whatever its JSON layout or Content-Type, gzip
// undone), and, once it received any, the reasoning tokens the upstream
// reported but never showed and the prompt tokens the upstream read (a
// quarter of the bytes of tools, functions and response_format included),
// each at the model's catalog price (the models table). What was charged is
// usage_events.charged for the Wattfare-Request-Id of the response, read
// once the settlement committed (polled for; a refusal's absence of a usage
// event is read after a later request's settlement committed).

// hostile is a data plane with the fake upstream behind models of its own.
type hostile struct {
	*env
	fake   *fakeupstream.Server
	client *http.Client
}

// setupHostile starts a data plane (harness_test.go's setup) whose
// upstream "fake" is a fakeupstream server; test keys may call it.
func setupHostile(t *testing.T) *hostile {
	t.Helper()
	fake := fakeupstream.New()
	t.Cleanup(fake.Close) // after the data plane's shutdown (cleanups run last in, first out)
	e := setup(t, func(c *dataplane.Config) {
		c.TestModeAnyUpstream = true
		c.Upstreams = append(c.Upstreams, &dataplane.Upstream{Name: "fake", BaseURL: fake.BaseURL()})
	})
	return &hostile{env: e, fake: fake, client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{DisableCompression: true}, // the test sees the bytes as sent
	}}
}

// priceClass is a catalog entry's prices ($ per million tokens) and output limit.
type priceClass struct {
	prompt, completion int64
	maxOutput          int
}

var (
	// expensive is priced like the dearest reasoning models, with a large output limit.
	expensive = priceClass{prompt: 150, completion: 600, maxOutput: 100_000}
	// standard is a mid-range chat model.
	standard = priceClass{prompt: 3, completion: 15, maxOutput: 16_384}
	// short is expensive with a small output limit.
	short = priceClass{prompt: 15, completion: 600, maxOutput: 1000}
	// completionOnly charges nothing for the prompt, so that a row about
	// counting completion tokens is not also about prompt estimates.
	completionOnly = priceClass{prompt: 0, completion: 15, maxOutput: 16_384}
)

// addModel puts a model served by the fake upstream in the catalog.
func (h *hostile) addModel(id, upstreamModel string, p priceClass) {
	h.exec(`INSERT INTO models (id, upstream, upstream_model, prompt_price, completion_price, context_length, max_output_tokens)
		VALUES ($1, 'fake', $2, $3, $4, 1000000, $5)`, id, upstreamModel,
		int64(wattfare.PricePerMillion(wattfare.USD(p.prompt))), int64(wattfare.PricePerMillion(wattfare.USD(p.completion))), p.maxOutput)
}

// addPayer connects an app user paid by a wallet of their own ($1000), so
// that no row's spending limits another's.
func (h *hostile) addPayer(user string, cap wattfare.Money) string {
	acct := wattfare.NewID("acct_")
	h.exec(`INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, 'x')`, acct, acct+"@example.com")
	h.exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ($1, 'test', $2)`, acct, int64(wattfare.USD(1000)))
	conn := wattfare.NewID("conn_")
	h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'test', $3, $4, $5)`,
		conn, h.app, user, acct, int64(cap))
	return conn
}

// prices reads a model's prices from the catalog, as the data plane does.
func (h *hostile) prices(t *testing.T, model string) (prompt, completion wattfare.Price) {
	t.Helper()
	var p, c int64
	if err := h.pool.QueryRow(context.Background(), `SELECT prompt_price, completion_price FROM models WHERE id = $1`, model).Scan(&p, &c); err != nil {
		t.Fatalf("price of %s: %v", model, err)
	}
	return wattfare.Price(p), wattfare.Price(c)
}

// reply is a response as the client read it.
type reply struct {
	status  int
	header  http.Header
	body    []byte // the bytes as they came
	readErr error
	reqID   string
}

func (h *hostile) post(t *testing.T, user string, body []byte, gzipped bool) reply {
	t.Helper()
	return h.postTo(t, "/v1/chat/completions", user, body, gzipped)
}

// postTo is post to another endpoint of the data plane (/v1/responses).
func (h *hostile) postTo(t *testing.T, path, user string, body []byte, gzipped bool) reply {
	t.Helper()
	if gzipped {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	req, _ := http.NewRequest("POST", h.dataURL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Wattfare-User", user)
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, readErr: rerr, reqID: resp.Header.Get("Wattfare-Request-Id")}
}

// plain is the reply's body as a lenient client decodes it: gunzipped when
// it says so or starts like gzip, keeping what decodes before any damage,
// and whatever follows the gzip member in the clear (an error event the
// proxy appended, say).
func (r reply) plain() []byte {
	b := r.body
	if strings.EqualFold(r.header.Get("Content-Encoding"), "gzip") || bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		br := bytes.NewReader(b)
		if zr, err := gzip.NewReader(br); err == nil {
			zr.Multistream(false)
			out, _ := io.ReadAll(zr)
			return append(out, b[len(b)-br.Len():]...)
		}
	}
	return b
}

// choiceText is what carries completion tokens in a choice's message or delta.
type choiceText struct {
	Content          *string `json:"content"`
	ReasoningContent string  `json:"reasoning_content"`
	Reasoning        string  `json:"reasoning"`
	ToolCalls        []struct {
		Function struct {
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

func (c *choiceText) tokens() int {
	n := fakeupstream.CountTokens(c.ReasoningContent) + fakeupstream.CountTokens(c.Reasoning)
	if c.Content != nil {
		n += fakeupstream.CountTokens(*c.Content)
	}
	for _, tc := range c.ToolCalls {
		n += fakeupstream.CountTokens(tc.Function.Arguments)
	}
	return n
}

// countObject counts the completion tokens of a chat completion or chunk.
func countObject(b []byte) (int, bool) {
	var v struct {
		Choices []struct {
			Message *choiceText `json:"message"`
			Delta   *choiceText `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(b, &v) != nil {
		return 0, false
	}
	n := 0
	for _, c := range v.Choices {
		if c.Message != nil {
			n += c.Message.tokens()
		}
		if c.Delta != nil {
			n += c.Delta.tokens()
		}
	}
	return n, true
}

// sseData splits a body into the data of its server-sent events, as the
// SSE spec reads them: "\r\n", "\n" or "\r" line ends, comment lines, "data:"
// with or without its space, several data lines joined by "\n". A last
// event without its blank line counts too (a client may act on it).
func sseData(b []byte) [][]byte {
	var events [][]byte
	var data []byte
	have := false
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexAny(b, "\r\n"); i < 0 {
			line, b = b, nil
		} else {
			line = b[:i]
			if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				b = b[i+2:]
			} else {
				b = b[i+1:]
			}
		}
		if len(line) == 0 {
			if have {
				events = append(events, data)
			}
			data, have = nil, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) == "data" {
			if have {
				data = append(data, '\n')
			}
			data = append(data, value...)
			have = true
		}
	}
	if have {
		events = append(events, data)
	}
	return events
}

// deliveredTokens counts the completion tokens the client received,
// reading the body both as one JSON answer and as a stream (whatever its
// Content-Type says) and taking the larger count.
func deliveredTokens(b []byte) int {
	whole, _ := countObject(b)
	streamed := 0
	for _, d := range sseData(b) {
		if n, ok := countObject(d); ok {
			streamed += n
		}
	}
	return max(whole, streamed)
}

// usageEvent is a settled request as the ledger recorded it.
type usageEvent struct {
	Status                  string
	Prompt, Completion      int64
	Reasoning               int64
	Cost, Charged           wattfare.Money
	ConnectionID, AppUserID string
}

// settled waits for the request's usage event to be committed (settlements
// are group-committed every few milliseconds: the row appears, or the
// deadline passes) and reports whether there is one.
func (h *hostile) settled(reqID string, timeout time.Duration) (usageEvent, bool) {
	var u usageEvent
	deadline := time.Now().Add(timeout)
	for {
		err := h.pool.QueryRow(context.Background(), `SELECT status, prompt_tokens, completion_tokens, reasoning_tokens, cost, charged, connection_id, app_user_id
			FROM usage_events WHERE request_id = $1`, reqID).Scan(&u.Status, &u.Prompt, &u.Completion, &u.Reasoning, &u.Cost, &u.Charged, &u.ConnectionID, &u.AppUserID)
		if err == nil {
			return u, true
		}
		if time.Now().After(deadline) {
			return u, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// barrier sends a request of its own and waits for its settlement:
// settlements commit in the order they were made, so every settlement made
// before it has committed too. A refused request then can be checked for
// the absence of a usage event without guessing how long to sleep.
func (h *hostile) barrier(t *testing.T) {
	t.Helper()
	r := h.post(t, "sentinel", []byte(chatBody("barrier", "")), false)
	if r.status != 200 {
		t.Fatalf("barrier request: %d %s", r.status, r.body)
	}
	if _, ok := h.settled(r.reqID, 20*time.Second); !ok {
		t.Fatalf("barrier request %s never settled", r.reqID)
	}
}

// spent is what the ledger shows a connection spent: captured this
// period, and the sum of its usage events' charges.
func (h *hostile) spent(connID string) (captured, charged wattfare.Money) {
	var c, s int64
	h.pool.QueryRow(context.Background(), `SELECT coalesce(sum(captured), 0) FROM connection_periods WHERE connection_id = $1`, connID).Scan(&c)
	h.pool.QueryRow(context.Background(), `SELECT coalesce(sum(charged), 0) FROM usage_events WHERE connection_id = $1`, connID).Scan(&s)
	return wattfare.Money(c), wattfare.Money(s)
}

// hostileRow is one request and one upstream behaviour.
type hostileRow struct {
	name  string
	class priceClass
	cap   wattfare.Money
	fake  fakeupstream.Behaviour
	body  func(model string) string
	gzip  bool // the client gzips the body and says Content-Encoding: gzip
	// may400 lists the fields a 400 invalid_request may name (an
	// ambiguous body may be refused rather than rebuilt); nil: a 400 is
	// wrong. any400 allows a 400 naming no field; may415 allows 415.
	may400 []string
	any400 bool
	may415 bool
	// must is the status the row must get (0: any the rules allow).
	must int
	// responses sends the row to /v1/responses, and counts what the
	// client received in the Responses API's events and output.
	responses bool
}

// messages is an ordinary conversation.
const messages = `"messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Write a long story about a lighthouse keeper and the storm of 1953."}]`

// chat returns an OpenAI chat completion request for the row's model with
// the fields in extra (each starting with a comma), exactly as written:
// duplicates and odd cases included.
func chat(extra string) func(string) string {
	return func(model string) string { return `{"model":"` + model + `",` + messages + extra + `}` }
}

// toolDefs returns n OpenAI tool definitions of about 420 bytes each.
func toolDefs(n int) string {
	var b strings.Builder
	b.WriteString(`"tools":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"function","function":{"name":"inventory_lookup_%02d","description":"Look up record %d in the inventory database and return its fields, including the price, the stock level, the supplier and the date of the last delivery.","parameters":{"type":"object","properties":{"id":{"type":"string","description":"The record id, as printed on the shelf label"},"fields":{"type":"array","items":{"type":"string"},"description":"Which fields to return; all when omitted"}},"required":["id"]}}}`, i, i)
	}
	b.WriteString(`]`)
	return b.String()
}

func hostileRows() []hostileRow {
	usd := wattfare.USD
	cents := func(n int64) wattfare.Money { return wattfare.Money(n) * wattfare.Cent }
	const (
		stream      = `,"stream":true`
		streamUsage = `,"stream":true,"stream_options":{"include_usage":true}`
	)
	type B = fakeupstream.Behaviour
	tools3 := "," + toolDefs(3) + `,"tool_choice":"auto"`
	return []hostileRow{
		// No max_tokens on an expensive model, a 30,000-token reply ($18) on a $10 cap.
		{name: "NoMaxTokens30kStream", class: expensive, cap: usd(10), fake: B{Tokens: 30000}, body: chat(stream)},
		{name: "NoMaxTokens30kStreamUsage", class: expensive, cap: usd(10), fake: B{Tokens: 30000}, body: chat(streamUsage)},
		{name: "NoMaxTokens30kWhole", class: expensive, cap: usd(10), fake: B{Tokens: 30000}, body: chat("")},
		{name: "NoMaxTokens30kHonouredWhole", class: expensive, cap: usd(10), fake: B{Tokens: 30000, HonourMaxTokens: true}, body: chat("")},

		// Keys that a case-folding upstream (encoding/json) reads as stream and max_tokens.
		{name: "CaseFoldedStreamMaxTokens", class: expensive, cap: usd(10), fake: B{Tokens: 20000, HonourMaxTokens: true},
			body: chat(`,"Stream":true,"max_tokens":60,"MAX_TOKENS":100000`), may400: []string{"stream", "max_tokens"}},
		{name: "CaseFoldedMaxTokensWhole", class: expensive, cap: usd(10), fake: B{Tokens: 20000, HonourMaxTokens: true},
			body: chat(`,"max_tokens":60,"Max_Tokens":100000`), may400: []string{"max_tokens"}},

		// Two stream_options; the upstream reads the last. 3 tokens per delta:
		// without usage, counting deltas is not enough.
		{name: "DupStreamOptionsLastTrue", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 3},
			body: chat(`,"stream":true,"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}`), may400: []string{"stream_options"}},
		{name: "DupStreamOptionsLastFalse", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 3},
			body: chat(`,"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}`), may400: []string{"stream_options"}},

		// Duplicate max_tokens; the upstream honours the last one.
		{name: "DupMaxTokensLastLarger", class: expensive, cap: usd(3), fake: B{Tokens: 10000, HonourMaxTokens: true},
			body: chat(`,"max_tokens":50,"max_tokens":20000`), may400: []string{"max_tokens"}},
		{name: "DupMaxTokensLastSmaller", class: expensive, cap: usd(3), fake: B{Tokens: 10000, HonourMaxTokens: true},
			body: chat(`,"max_tokens":20000,"max_tokens":50`), may400: []string{"max_tokens"}},
		{name: "DupMaxTokensStream", class: expensive, cap: usd(3), fake: B{Tokens: 10000, HonourMaxTokens: true},
			body: chat(`,"stream":true,"max_tokens":50,"max_tokens":20000`), may400: []string{"max_tokens"}},
		// An older server that honours max_tokens only, sent alongside a small max_completion_tokens.
		{name: "MaxCompletionTokensWithLargerMaxTokens", class: expensive, cap: usd(3), fake: B{Tokens: 10000, HonourMaxTokens: true, HonourOnly: "max_tokens"},
			body: chat(`,"max_completion_tokens":50,"max_tokens":20000`), may400: []string{"max_tokens", "max_completion_tokens"}},

		// n: 8 choices of 200 tokens ($0.96) on a $0.50 cap.
		{name: "N8Stream", class: expensive, cap: cents(50), fake: B{Tokens: 200, HonourMaxTokens: true}, body: chat(`,"stream":true,"n":8,"max_tokens":200`)},
		{name: "N8StreamUsage", class: expensive, cap: cents(50), fake: B{Tokens: 200, HonourMaxTokens: true}, body: chat(`,"stream":true,"stream_options":{"include_usage":true},"n":8,"max_tokens":200`)},
		{name: "N8Whole", class: expensive, cap: cents(50), fake: B{Tokens: 200, HonourMaxTokens: true}, body: chat(`,"n":8,"max_tokens":200`)},

		// 40 root-level tools: about 4,200 prompt tokens ($0.63) on a $0.30 cap.
		{name: "Tools40Whole", class: expensive, cap: cents(30), fake: B{Tokens: 50, HonourMaxTokens: true}, body: chat(`,` + toolDefs(40) + `,"max_tokens":50`)},
		{name: "Tools40Stream", class: expensive, cap: cents(30), fake: B{Tokens: 50, HonourMaxTokens: true}, body: chat(`,` + toolDefs(40) + `,"max_tokens":50` + streamUsage)},

		// Replies longer than the catalog's max_output_tokens (1000): 3000 tokens ($1.80) on a $1 cap.
		{name: "OverMaxOutputWhole", class: short, cap: usd(1), fake: B{Tokens: 3000}, body: chat("")},
		{name: "OverMaxOutputStream", class: short, cap: usd(1), fake: B{Tokens: 3000}, body: chat(stream)},
		{name: "OverMaxOutputHonouringUpstreamWhole", class: short, cap: usd(1), fake: B{Tokens: 3000, HonourMaxTokens: true}, body: chat("")},
		{name: "OverMaxOutputHonouringUpstreamStream", class: short, cap: usd(1), fake: B{Tokens: 3000, HonourMaxTokens: true}, body: chat(stream)},

		// JSON layouts.
		{name: "MinifiedStream", class: standard, cap: usd(10), fake: B{Tokens: 300}, body: chat(stream), must: 200},
		{name: "MinifiedStreamUsage", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4}, body: chat(streamUsage), must: 200},
		{name: "MinifiedWhole", class: standard, cap: usd(10), fake: B{Tokens: 300}, body: chat(""), must: 200},
		{name: "SpacedStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Spaced}, body: chat(stream)},
		{name: "SpacedStreamUsage", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, Style: fakeupstream.Spaced}, body: chat(streamUsage)},
		{name: "SpacedWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Spaced}, body: chat("")},
		{name: "TemplatedStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Templated}, body: chat(stream)},
		{name: "TemplatedStreamUsage", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, Style: fakeupstream.Templated}, body: chat(streamUsage)},
		{name: "TemplatedWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Templated}, body: chat("")},
		{name: "IndentedStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Indented}, body: chat(stream)},
		{name: "IndentedWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Indented}, body: chat("")},

		// Usage chunks: missing, split across TCP writes, repeated, reformatted, unasked.
		{name: "UsageMissingStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Usage: fakeupstream.UsageNever}, body: chat(stream)},
		{name: "UsageMissingMultiTokenDeltas", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, Usage: fakeupstream.UsageNever}, body: chat(streamUsage)},
		{name: "UsageMissingWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Usage: fakeupstream.UsageNever}, body: chat("")},
		{name: "UsageSplit", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, UsageSplit: true}, body: chat(streamUsage)},
		{name: "UsageRepeated", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, UsageRepeat: 2}, body: chat(streamUsage)},
		{name: "UsageReformatted", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, UsageReformatted: true}, body: chat(streamUsage)},
		{name: "UsageUnasked", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, Usage: fakeupstream.UsageAlways}, body: chat(stream)},

		// Gzip: a request body the client compressed; answers the upstream compressed.
		{name: "GzipRequestBody", class: standard, cap: usd(10), fake: B{Tokens: 300}, body: chat(stream), gzip: true, any400: true, may415: true},
		{name: "GzipResponseStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Gzip: true}, body: chat(stream)},
		{name: "GzipResponseWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Gzip: true}, body: chat("")},

		// SSE framing: CRLF, comment lines, keep-alive pings, "data:" without a space.
		{name: "CRLFCommentsPings", class: standard, cap: usd(10), fake: B{Tokens: 300, CRLF: true, Comments: true, NoSpace: true}, body: chat(stream)},
		{name: "CRLFCommentsPingsUsage", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, CRLF: true, Comments: true, NoSpace: true}, body: chat(streamUsage)},

		// Tool calls: the tokens are in the arguments.
		{name: "ToolCallsStream", class: completionOnly, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 4, ToolCall: true}, body: chat(tools3 + stream)},
		{name: "ToolCallsStreamNoUsage", class: completionOnly, cap: usd(10), fake: B{Tokens: 300, ToolCall: true, Usage: fakeupstream.UsageNever}, body: chat(tools3 + stream)},
		{name: "ToolCallsWhole", class: completionOnly, cap: usd(10), fake: B{Tokens: 300, ToolCall: true}, body: chat(tools3)},
		{name: "ToolCallsWholeNoUsage", class: completionOnly, cap: usd(10), fake: B{Tokens: 300, ToolCall: true, Usage: fakeupstream.UsageNever}, body: chat(tools3)},

		// Reasoning: hidden (reported in usage only) and streamed as reasoning_content.
		{name: "ReasoningHiddenStream", class: standard, cap: usd(10), fake: B{Tokens: 50, HiddenReasoning: 2000}, body: chat(stream)},
		{name: "ReasoningHiddenWhole", class: standard, cap: usd(10), fake: B{Tokens: 50, HiddenReasoning: 2000}, body: chat("")},
		{name: "ReasoningStreamedNoUsage", class: standard, cap: usd(10), fake: B{Tokens: 50, StreamedReasoning: 300, Usage: fakeupstream.UsageNever}, body: chat(stream)},

		// Wrong Content-Types.
		{name: "WrongContentTypeWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, ContentType: "text/plain; charset=utf-8"}, body: chat("")},
		{name: "WrongContentTypeWholeNoUsage", class: standard, cap: usd(10), fake: B{Tokens: 300, ContentType: "text/plain; charset=utf-8", Usage: fakeupstream.UsageNever}, body: chat("")},
		{name: "JSONContentTypeOnStream", class: standard, cap: usd(10), fake: B{Tokens: 300, ContentType: "application/json"}, body: chat(stream)},

		// Refused: no upstream request, no usage event, no charge.
		{name: "RefusedMalformedJSON", class: standard, cap: usd(10), fake: B{Tokens: 300},
			body: func(m string) string { return `{"model":"` + m + `",` + messages + `,"stream":true` }, any400: true, must: 400},
		{name: "RefusedStreamNotBoolean", class: standard, cap: usd(10), fake: B{Tokens: 300}, body: chat(`,"stream":"true"`), may400: []string{"stream"}, must: 400},
	}
}

// TestHostileMetering runs hostileRows against one data plane: each row has
// its own model (its own behaviour of the fake upstream) and its own payer.
func TestHostileMetering(t *testing.T) {
	t.Parallel()
	h := setupHostile(t)
	rows := hostileRows()
	conns := map[string]string{}
	for _, r := range rows {
		h.fake.Set(r.name, r.fake)
		h.addModel("fake/"+strings.ToLower(r.name), r.name, r.class)
		conns[r.name] = h.addPayer(r.name, r.cap)
	}
	h.addPayer("sentinel", wattfare.USD(100))
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { h.runRow(t, r, conns[r.name]) })
	}
}

func (h *hostile) runRow(t *testing.T, r hostileRow, connID string) {
	model := "fake/" + strings.ToLower(r.name)
	pp, cp := h.prices(t, model)
	oneToken := max(pp, cp).Cost(1)
	path := "/v1/chat/completions"
	if r.responses {
		path = "/v1/responses"
	}
	rep := h.postTo(t, path, r.name, []byte(r.body(model)), r.gzip)
	if !strings.HasPrefix(rep.reqID, "req_") {
		t.Fatalf("no Wattfare-Request-Id (status %d)", rep.status)
	}
	// The fake registers a request as it arrives, before the proxy can
	// have answered anything that came from it.
	var x *fakeupstream.Exchange
	seen := h.fake.Seen(rep.reqID)
	if seen {
		var done bool
		if x, done = h.fake.Exchange(rep.reqID, 10*time.Second); !done {
			t.Errorf("the upstream's handler did not finish")
		}
	}
	upstreamRead := func() string {
		if x == nil {
			return "the upstream was not called"
		}
		rc := x.Received
		s := fmt.Sprintf("the upstream read stream=%v include_usage=%v n=%d tools=%d", rc.Stream, rc.IncludeUsage, rc.N, rc.Tools)
		if rc.MaxTokens != nil {
			s += fmt.Sprintf(" max_tokens=%d", *rc.MaxTokens)
		}
		if rc.MaxCompletionTokens != nil {
			s += fmt.Sprintf(" max_completion_tokens=%d", *rc.MaxCompletionTokens)
		}
		if rc.Err != "" {
			s += " and could not parse the body: " + rc.Err
		}
		return s + fmt.Sprintf("; it sent %+v", x.Sent)
	}
	if r.must != 0 && rep.status != r.must {
		t.Errorf("status %d, want %d: %.300s (%s)", rep.status, r.must, rep.body, upstreamRead())
	}

	switch rep.status {
	case 400, 415:
		eb := errBody{}
		json.Unmarshal(rep.body, &eb)
		switch {
		case rep.status == 415 && !r.may415, rep.status == 400 && r.may400 == nil && !r.any400:
			t.Errorf("refused with %d, which this row does not allow: %s", rep.status, rep.body)
		case rep.status == 400 && eb.Error.Code != wattfare.EInvalidRequest:
			t.Errorf("400 with code %q, want %s: %s", eb.Error.Code, wattfare.EInvalidRequest, rep.body)
		case rep.status == 400 && r.may400 != nil && !namesField(eb, r.may400):
			t.Errorf("400 names none of %v (param %v): %s", r.may400, eb.Error.Param, rep.body)
		}
		if seen {
			t.Errorf("refused with %d after calling the upstream: %s", rep.status, upstreamRead())
		}
		h.barrier(t)
		if u, ok := h.settled(rep.reqID, 0); ok {
			t.Errorf("a request refused with %d has a usage event: %+v", rep.status, u)
		}
		if captured, charged := h.spent(connID); captured != 0 || charged != 0 {
			t.Errorf("a request refused with %d was charged: captured %v, usage events %v", rep.status, captured, charged)
		}
		t.Logf("refused with %d: %.200s", rep.status, rep.body)
		return
	}

	// What the client received, at the catalog's prices.
	// A reply was delivered when the client got completion tokens; its
	// prompt and its hidden reasoning were then spent on it too.
	var tokens, hidden, prompt int64
	if rep.status == 200 {
		if r.responses {
			tokens = int64(deliveredResponseTokens(rep.plain()))
		} else {
			tokens = int64(deliveredTokens(rep.plain()))
		}
		if x != nil && tokens > 0 {
			prompt, hidden = int64(x.Sent.PromptTokens), int64(x.Sent.Hidden)
		}
	}
	delivered := pp.Cost(prompt) + cp.Cost(tokens+hidden)
	var u usageEvent
	var ok bool
	if seen || rep.status == 200 {
		u, ok = h.settled(rep.reqID, 15*time.Second)
	} else {
		// Refused before any upstream request: nothing to charge.
		h.barrier(t)
		if u, ok = h.settled(rep.reqID, 0); ok && u.Charged != 0 {
			t.Errorf("refused with %d before calling the upstream, and charged: %+v", rep.status, u)
		}
	}
	tail := func() string {
		b := rep.plain()
		return fmt.Sprintf("the client read %d bytes (read error %v), ending %q", len(b), rep.readErr, b[max(0, len(b)-300):])
	}
	switch {
	case !ok && delivered > 0:
		t.Errorf("delivered %v (%d prompt, %d completion, %d hidden reasoning tokens; status %d) and no usage event: charged nothing; %s; %s",
			delivered, prompt, tokens, hidden, rep.status, upstreamRead(), tail())
	case ok && delivered > u.Charged+oneToken:
		t.Errorf("delivered %v (%d prompt, %d completion, %d hidden reasoning tokens; status %d) > charged %v + one token %v: usage event %+v; %s; %s",
			delivered, prompt, tokens, hidden, rep.status, u.Charged, oneToken, u, upstreamRead(), tail())
	}
	if ok && rep.status == 402 && seen && u.Status != "withheld" && u.Status != "cut" {
		// The upstream answered but the answer cost more than the budget
		// left: it was withheld, and the usage event must say so.
		t.Errorf("a reply withheld with 402 is recorded as %q, not \"withheld\"", u.Status)
	}
	captured, charged := h.spent(connID)
	if captured > r.cap || charged > r.cap {
		t.Errorf("spent over the cap %v: captured %v, usage events charge %v", r.cap, captured, charged)
	}
	if t.Failed() {
		return
	}
	t.Logf("status %d: delivered %v (%d+%d+%d tokens), charged %v (status %q, %d+%d tokens); %s",
		rep.status, delivered, prompt, tokens, hidden, u.Charged, u.Status, u.Prompt, u.Completion, upstreamRead())
}

// namesField reports whether a 400's param or message names one of the
// fields (case-insensitively).
func namesField(eb errBody, fields []string) bool {
	for _, f := range fields {
		if eb.Error.Param != nil && strings.EqualFold(*eb.Error.Param, f) {
			return true
		}
		if strings.Contains(strings.ToLower(eb.Error.Message), strings.ToLower(f)) {
			return true
		}
	}
	return false
}
