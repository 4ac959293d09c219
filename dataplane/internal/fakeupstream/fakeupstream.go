// Package fakeupstream is an OpenAI-compatible chat completions server for
// tests, with knobs for the ways real upstreams differ from the OpenAI
// reference: replies that ignore max_tokens, n choices, tool calls,
// reasoning tokens, Python-style and hand-templated JSON, missing, split,
// repeated and reformatted usage chunks, CRLF line ends, comment and
// keep-alive lines, "data:" without a space, gzip on the response and wrong
// Content-Types.
//
// It reads each request the way a Go server (Ollama, the sandbox) does, with
// encoding/json: keys match case-insensitively and the last duplicate wins.
// It records what it read and what it sent, per Wattfare-Request-Id, so that
// a test can compute the cost of what was delivered.
//
// Every completion token is the word "Xq " (Token and a space): the tokens
// in any text the client received are CountTokens(text), whatever the JSON
// layout, and content, tool-call arguments and reasoning all count alike.
package fakeupstream

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token is the text of every completion token (each is followed by a space).
const Token = "Xq"

// CountTokens counts the completion tokens in text the upstream produced.
func CountTokens(s string) int { return strings.Count(s, Token) }

// Style is how the upstream writes its JSON.
type Style int

const (
	// Minified is encoding/json's compact form: `{"key":value,…}`.
	Minified Style = iota
	// Spaced is Python's json.dumps default: `{"key": value, …}`.
	Spaced
	// Indented is json.dumps(indent=2): one key per line. Streamed, each
	// line of an event's JSON is its own "data:" line, as the SSE spec
	// requires for multi-line data.
	Indented
	// Templated is compact JSON from a hand-written template that puts a
	// space after a few keys only: `"content": "…"`, `"arguments": "…"`,
	// `"reasoning_content": "…"`, `"usage": {…}`.
	Templated
)

// UsageMode says when a reply carries usage.
type UsageMode int

const (
	// UsageAsAsked is OpenAI's rule: a stream ends with a usage chunk only
	// when stream_options.include_usage is true (as encoding/json reads
	// it); a whole answer always has usage.
	UsageAsAsked UsageMode = iota
	// UsageNever omits usage everywhere.
	UsageNever
	// UsageAlways sends the usage chunk even when not asked (OpenRouter).
	UsageAlways
)

// Behaviour is how the fake answers the requests for one model.
type Behaviour struct {
	// Tokens is how many visible completion tokens each choice has.
	Tokens int
	// HonourMaxTokens stops each choice at max_completion_tokens, else
	// max_tokens, as encoding/json reads them; by default both are ignored.
	// With HonourOnly "max_tokens", only max_tokens is honoured (servers
	// that predate max_completion_tokens).
	HonourMaxTokens bool
	HonourOnly      string
	// TokensPerDelta is how many tokens a streamed delta carries (default 1).
	TokensPerDelta int
	// ToolCall makes each choice one tool call whose arguments carry the
	// tokens, instead of content.
	ToolCall bool
	// HiddenReasoning is reasoning tokens per choice that are never shown,
	// only reported: in completion_tokens and in
	// completion_tokens_details.reasoning_tokens.
	HiddenReasoning int
	// StreamedReasoning is reasoning tokens per choice sent before the
	// content as reasoning_content (DeepSeek style), also reported in usage.
	StreamedReasoning int
	// Style is the JSON layout; UsageReformatted writes the usage chunk
	// Spaced whatever Style is.
	Style            Style
	UsageReformatted bool
	Usage            UsageMode
	// UsageSplit writes the usage event in two TCP writes, 20 ms apart, cut
	// inside the "usage" key.
	UsageSplit bool
	// UsageRepeat sends the usage event this many more times.
	UsageRepeat int
	// CRLF ends lines with "\r\n".
	CRLF bool
	// Comments puts a ": comment" line in every event and a ": ping"
	// keep-alive event between every few events.
	Comments bool
	// NoSpace writes "data:{…}" without the space after the colon.
	NoSpace bool
	// Gzip compresses the response (Content-Encoding: gzip) whatever the
	// request accepts.
	Gzip bool
	// ContentType overrides the response's Content-Type.
	ContentType string
	// DeltaDelay is a pause before each streamed delta.
	DeltaDelay time.Duration
}

// Received is what the fake read from a request, as encoding/json reads it.
type Received struct {
	Model               string
	Stream              bool
	StreamOptions       bool // stream_options was present (and an object)
	IncludeUsage        bool
	MaxTokens           *int
	MaxCompletionTokens *int
	N                   int // 1 when absent
	Tools               int
	ContentEncoding     string
	Body                []byte // decompressed when the request said gzip
	Err                 string // why the body could not be read, if it could not
}

// Sent is what the fake produced for a request.
type Sent struct {
	Status       int
	PromptTokens int // words of every message's text, plus a quarter of the bytes of tools, functions and response_format
	// Visible is the completion tokens written to the wire, all choices:
	// content, tool-call arguments and streamed reasoning.
	Visible int
	// Hidden is the hidden reasoning tokens reported, all choices.
	Hidden int
	// Completion is the completion_tokens the usage reported (or would
	// have: it is set when no usage was sent too).
	Completion int
	// UsageSent counts the usage objects written.
	UsageSent int
	// Complete is true when the whole reply was written.
	Complete bool
}

// Exchange is one request the fake served.
type Exchange struct {
	RequestID string
	Received  Received
	Sent      Sent
	done      chan struct{}
}

// Server is a running fake upstream.
type Server struct {
	*httptest.Server
	mu        sync.Mutex
	behaviour map[string]Behaviour
	exchanges map[string]*Exchange
	seq       int
}

// New starts a fake upstream; Close stops it.
func New() *Server {
	s := &Server{behaviour: map[string]Behaviour{}, exchanges: map[string]*Exchange{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the API root, OpenAI-SDK style (…/v1).
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Set says how requests for model (the name the upstream receives) are answered.
func (s *Server) Set(model string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviour[model] = b
}

// Seen reports whether a request with this Wattfare-Request-Id reached the fake.
func (s *Server) Seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges[id] != nil
}

// Exchange returns the exchange of the request id once its handler is done
// (waiting up to timeout), or false when no such request arrived.
func (s *Server) Exchange(id string, timeout time.Duration) (*Exchange, bool) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		x := s.exchanges[id]
		s.mu.Unlock()
		if x != nil {
			select {
			case <-x.done:
				return x, true
			case <-time.After(time.Until(deadline)):
				return x, false
			}
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func (m message) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
			b.WriteByte(' ')
		}
		return b.String()
	}
	return ""
}

type chatRequest struct {
	Model         string    `json:"model"`
	Messages      []message `json:"messages"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
	Tools               json.RawMessage `json:"tools"`
	Functions           json.RawMessage `json:"functions"`
	ResponseFormat      json.RawMessage `json:"response_format"`
}

func quarterBytes(raw json.RawMessage) int {
	if len(raw) == 0 || string(raw) == "null" {
		return 0
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return (len(raw) + 3) / 4
	}
	return (b.Len() + 3) / 4
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": code, "param": nil}})
	w.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Wattfare-Request-Id")
	s.mu.Lock()
	s.seq++
	if id == "" {
		id = "fake-" + strconv.Itoa(s.seq)
	}
	x := &Exchange{RequestID: id, done: make(chan struct{})}
	s.exchanges[id] = x
	s.mu.Unlock()
	defer close(x.done)

	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/responses") {
		s.serveResponses(w, r, x)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		x.Sent.Status = 404
		writeError(w, 404, "not_found", "no route")
		return
	}
	raw, err := io.ReadAll(r.Body)
	x.Received.ContentEncoding = r.Header.Get("Content-Encoding")
	if err == nil && strings.EqualFold(x.Received.ContentEncoding, "gzip") {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(raw)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	}
	x.Received.Body = raw
	var req chatRequest
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		x.Received.Err = err.Error()
		x.Sent.Status = 400
		writeError(w, 400, "invalid_json", "malformed JSON: "+err.Error())
		return
	}
	rc := &x.Received
	rc.Model, rc.Stream = req.Model, req.Stream
	if req.StreamOptions != nil {
		rc.StreamOptions, rc.IncludeUsage = true, req.StreamOptions.IncludeUsage
	}
	rc.MaxTokens, rc.MaxCompletionTokens = req.MaxTokens, req.MaxCompletionTokens
	rc.N = 1
	if req.N != nil && *req.N > 1 {
		rc.N = *req.N
	}
	var tools []json.RawMessage
	json.Unmarshal(req.Tools, &tools)
	rc.Tools = len(tools)

	s.mu.Lock()
	b, ok := s.behaviour[req.Model]
	s.mu.Unlock()
	if !ok {
		x.Sent.Status = 404
		writeError(w, 404, "model_not_found", "the fake upstream has no model "+strconv.Quote(req.Model))
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.text()))
	}
	prompt += quarterBytes(req.Tools) + quarterBytes(req.Functions) + quarterBytes(req.ResponseFormat)

	visible, finish := b.Tokens, "stop"
	if b.HonourMaxTokens {
		lim := 0
		if req.MaxCompletionTokens != nil && b.HonourOnly != "max_tokens" {
			lim = *req.MaxCompletionTokens
		} else if req.MaxTokens != nil {
			lim = *req.MaxTokens
		}
		if lim > 0 && visible > lim {
			visible, finish = lim, "length"
		}
	}
	if b.ToolCall && finish == "stop" {
		finish = "tool_calls"
	}
	if b.TokensPerDelta <= 0 {
		b.TokensPerDelta = 1
	}
	n := rc.N
	x.Sent.PromptTokens = prompt
	x.Sent.Hidden = n * b.HiddenReasoning
	x.Sent.Completion = n * (visible + b.HiddenReasoning + b.StreamedReasoning)
	u := usage{PromptTokens: prompt, CompletionTokens: x.Sent.Completion, TotalTokens: prompt + x.Sent.Completion,
		PromptDetails: &promptDetails{}, CompletionDetails: &completionDetails{ReasoningTokens: n * (b.HiddenReasoning + b.StreamedReasoning)}}
	p := &replyWriter{b: b, w: w, x: x}
	if req.Stream {
		p.stream(r, n, visible, finish, u)
	} else {
		p.whole(n, visible, finish, u)
	}
}

type usage struct {
	PromptTokens      int                `json:"prompt_tokens"`
	CompletionTokens  int                `json:"completion_tokens"`
	TotalTokens       int                `json:"total_tokens"`
	PromptDetails     *promptDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionDetails *completionDetails `json:"completion_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type completionDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

type function struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type toolCall struct {
	Index    *int     `json:"index,omitempty"`
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type,omitempty"`
	Function function `json:"function"`
}

type message2 struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

type delta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

type choice struct {
	Index        int       `json:"index"`
	Message      *message2 `json:"message,omitempty"`
	Delta        *delta    `json:"delta,omitempty"`
	FinishReason *string   `json:"finish_reason"`
}

type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   any      `json:"usage,omitempty"`
}

const created = 1767225600

func tokens(k int) string { return strings.Repeat(Token+" ", k) }

// args returns the tool-call arguments carrying tokens [from, to) of k:
// the JSON wrapper rides on the first and last pieces.
func args(from, to, k int) string {
	s := tokens(to - from)
	if from == 0 {
		s = `{"text":"` + s
	}
	if to == k {
		s += `"}`
	}
	return s
}

type replyWriter struct {
	b     Behaviour
	w     http.ResponseWriter
	x     *Exchange
	gz    *gzip.Writer
	out   io.Writer
	err   error
	nev   int
	model string
}

// format lays out compact JSON in the behaviour's style.
func format(compact []byte, st Style) []byte {
	switch st {
	case Spaced:
		return spaced(compact)
	case Indented:
		var b bytes.Buffer
		json.Indent(&b, compact, "", "  ")
		return b.Bytes()
	case Templated:
		out := compact
		for _, k := range []string{"content", "arguments", "reasoning_content", "usage"} {
			out = bytes.ReplaceAll(out, []byte(`"`+k+`":`), []byte(`"`+k+`": `))
		}
		return out
	}
	return compact
}

// spaced rewrites compact JSON with Python's default separators, ", " and ": ".
func spaced(c []byte) []byte {
	out := make([]byte, 0, len(c)+len(c)/4)
	in, esc := false, false
	for _, ch := range c {
		out = append(out, ch)
		switch {
		case in && esc:
			esc = false
		case in && ch == '\\':
			esc = true
		case ch == '"':
			in = !in
		case !in && (ch == ':' || ch == ','):
			out = append(out, ' ')
		}
	}
	return out
}

func (p *replyWriter) marshal(v any, st Style) []byte {
	b, _ := json.Marshal(v)
	return format(b, st)
}

func (p *replyWriter) header(ct string) {
	if p.b.ContentType != "" {
		ct = p.b.ContentType
	}
	p.w.Header().Set("Content-Type", ct)
	p.out = p.w
	if p.b.Gzip {
		p.w.Header().Set("Content-Encoding", "gzip")
		p.gz = gzip.NewWriter(p.w)
		p.out = p.gz
	}
	p.w.WriteHeader(200)
	p.x.Sent.Status = 200
}

// write sends bytes and flushes them to the wire.
func (p *replyWriter) write(b []byte) bool {
	if p.err != nil {
		return false
	}
	if _, p.err = p.out.Write(b); p.err == nil && p.gz != nil {
		p.err = p.gz.Flush()
	}
	if p.err == nil {
		p.err = http.NewResponseController(p.w).Flush()
	}
	return p.err == nil
}

func (p *replyWriter) finish() {
	if p.gz != nil && p.err == nil {
		p.err = p.gz.Close()
	}
}

func (p *replyWriter) whole(n, visible int, finish string, u usage) {
	b := p.b
	c := completion{ID: "chatcmpl-fake-" + p.x.RequestID, Object: "chat.completion", Created: created, Model: p.x.Received.Model}
	for i := range n {
		m := &message2{Role: "assistant"}
		if b.ToolCall {
			m.ToolCalls = []toolCall{{ID: fmt.Sprintf("call_%d", i), Type: "function", Function: function{Name: "lookup", Arguments: args(0, visible, visible)}}}
		} else {
			s := tokens(visible)
			m.Content = &s
		}
		if b.StreamedReasoning > 0 {
			m.ReasoningContent = tokens(b.StreamedReasoning)
		}
		f := finish
		c.Choices = append(c.Choices, choice{Index: i, Message: m, FinishReason: &f})
	}
	if b.Usage != UsageNever {
		c.Usage = u
		p.x.Sent.UsageSent = 1
	}
	body := p.marshal(c, b.Style)
	p.header("application/json")
	if p.write(body) {
		p.x.Sent.Visible = n * (visible + b.StreamedReasoning)
		p.finish()
		p.x.Sent.Complete = p.err == nil
	}
}

// event writes one SSE event with the behaviour's framing.
func (p *replyWriter) event(data []byte, split bool) bool {
	b := p.b
	eol := "\n"
	if b.CRLF {
		eol = "\r\n"
	}
	prefix := "data: "
	if b.NoSpace {
		prefix = "data:"
	}
	var ev bytes.Buffer
	if b.Comments {
		if p.nev%4 == 0 {
			ev.WriteString(": ping" + eol + eol)
		}
		ev.WriteString(": fake upstream at work" + eol)
	}
	p.nev++
	for _, line := range bytes.Split(data, []byte("\n")) {
		ev.WriteString(prefix)
		ev.Write(line)
		ev.WriteString(eol)
	}
	ev.WriteString(eol)
	raw := ev.Bytes()
	if cut := bytes.Index(raw, []byte(`"usage"`)); split && cut >= 0 {
		cut += 3 // inside the key: `"us` | `age"…`
		if !p.write(raw[:cut]) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		return p.write(raw[cut:])
	}
	return p.write(raw)
}

func (p *replyWriter) chunk(choices []choice, usageNull bool, st Style) []byte {
	c := completion{ID: "chatcmpl-fake-" + p.x.RequestID, Object: "chat.completion.chunk", Created: created, Model: p.x.Received.Model, Choices: choices}
	if usageNull {
		c.Usage = json.RawMessage("null")
	}
	return p.marshal(c, st)
}

func (p *replyWriter) stream(r *http.Request, n, visible int, finish string, u usage) {
	b := p.b
	rc := p.x.Received
	withUsage := b.Usage == UsageAlways || b.Usage == UsageAsAsked && rc.IncludeUsage
	p.header("text/event-stream")
	p.w.Header().Set("Cache-Control", "no-cache")
	empty := ""
	// The role chunk of every choice (and the tool call's header).
	for i := range n {
		d := &delta{Role: "assistant", Content: &empty}
		if b.ToolCall {
			idx := 0
			d.Content = nil
			d.ToolCalls = []toolCall{{Index: &idx, ID: fmt.Sprintf("call_%d", i), Type: "function", Function: function{Name: "lookup"}}}
		}
		if !p.event(p.chunk([]choice{{Index: i, Delta: d}}, withUsage, b.Style), false) {
			return
		}
	}
	pause := func() bool {
		if b.DeltaDelay <= 0 {
			return true
		}
		select {
		case <-time.After(b.DeltaDelay):
			return true
		case <-r.Context().Done():
			return false
		}
	}
	k := b.TokensPerDelta
	// Streamed reasoning, then the content (or arguments), choices interleaved.
	for from := 0; from < b.StreamedReasoning; from += k {
		to := min(from+k, b.StreamedReasoning)
		for i := range n {
			if !pause() {
				return
			}
			s := tokens(to - from)
			if !p.event(p.chunk([]choice{{Index: i, Delta: &delta{ReasoningContent: &s}}}, withUsage, b.Style), false) {
				return
			}
			p.x.Sent.Visible += to - from
		}
	}
	for from := 0; from < visible; from += k {
		to := min(from+k, visible)
		for i := range n {
			if !pause() {
				return
			}
			d := &delta{}
			if b.ToolCall {
				idx := 0
				d.ToolCalls = []toolCall{{Index: &idx, Function: function{Arguments: args(from, to, visible)}}}
			} else {
				s := tokens(to - from)
				d.Content = &s
			}
			if !p.event(p.chunk([]choice{{Index: i, Delta: d}}, withUsage, b.Style), false) {
				return
			}
			p.x.Sent.Visible += to - from
		}
	}
	for i := range n {
		f := finish
		if !p.event(p.chunk([]choice{{Index: i, Delta: &delta{}, FinishReason: &f}}, withUsage, b.Style), false) {
			return
		}
	}
	if withUsage {
		st := b.Style
		if b.UsageReformatted {
			st = Spaced
		}
		c := completion{ID: "chatcmpl-fake-" + p.x.RequestID, Object: "chat.completion.chunk", Created: created, Model: rc.Model, Choices: []choice{}, Usage: u}
		data := p.marshal(c, st)
		for range 1 + b.UsageRepeat {
			if !p.event(data, b.UsageSplit) {
				return
			}
			p.x.Sent.UsageSent++
		}
	}
	if !p.event([]byte("[DONE]"), false) {
		return
	}
	p.finish()
	p.x.Sent.Complete = p.err == nil
}
