// Package sandbox is Wattfare's deterministic OpenAI-compatible model server.
// App developers (and Wattfare's own tests and benchmarks) use it to exercise
// every path of an integration without real inference: the reply echoes the
// last user message one token per word, and switches written in that message
// force long replies, slow tokens, failures before the first byte, a
// connection dropped mid-stream, or a stream without its usage chunk.
//
// Besides its own models it simulates any other on request (SimulateHeader):
// that is how test mode answers for every catalog model.
//
// The same request always gets the same bytes back, so a test can compare
// what a client received through the proxy with what the sandbox sent.
package sandbox

import (
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Created is the fixed "created" timestamp of every response: the sandbox is
// deterministic, so it does not read the clock.
const Created = 1767225600

// Model is an entry of the sandbox catalog.
type Model struct {
	ID   string
	Kind string // "chat" or "embedding"
}

// Models is the sandbox's catalog. Prices live in the data plane's models
// table (migrations/001_init.sql), not here.
var Models = []Model{
	{ID: "sandbox/echo", Kind: "chat"},
	{ID: "sandbox/pricey", Kind: "chat"},
	{ID: "sandbox/embed", Kind: "embedding"},
}

// SimulateHeader, on a request, asks the sandbox to answer in the name of
// the model the body names even though the sandbox has no such model: the
// data plane sends it when a test key calls a catalog model such as
// anthropic/claude-sonnet-4, so that test mode runs the same code as live
// mode without buying real inference. The reply is the sandbox's (switches
// and all) with the body's model in its "model" field.
//
// Its value is "context_length=N", the model's context window: a prompt of
// more than N tokens is refused as OpenAI-compatible upstreams refuse it
// (400 context_length_exceeded), and a reply stops with finish_reason
// "length" where prompt and reply together reach N. Any other value
// simulates without a window.
const SimulateHeader = "Wattfare-Simulate"

// simulation is what SimulateHeader asked for.
type simulation struct {
	on            bool
	contextLength int // 0: no window
}

func simulationOf(r *http.Request) simulation {
	v, ok := r.Header[http.CanonicalHeaderKey(SimulateHeader)]
	if !ok || len(v) == 0 {
		return simulation{}
	}
	sim := simulation{on: true}
	if n, ok := strings.CutPrefix(v[0], "context_length="); ok {
		sim.contextLength, _ = strconv.Atoi(n)
		sim.contextLength = max(0, sim.contextLength)
	}
	return sim
}

// serves reports whether the sandbox answers for model on an endpoint of
// kind: its own models of that kind, and any model not its own when asked
// to simulate.
func (sim simulation) serves(model, kind string) bool {
	own := kindOf(model)
	return own == kind || sim.on && own == "" && model != ""
}

// overContext answers 400 context_length_exceeded, in OpenAI's words, when
// the tokens of param ("messages", "input") do not fit the simulated
// model's window.
func (sim simulation) overContext(w http.ResponseWriter, tokens int, param string) bool {
	if sim.contextLength <= 0 || tokens <= sim.contextLength {
		return false
	}
	writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "context_length_exceeded", param,
		"This model's maximum context length is "+strconv.Itoa(sim.contextLength)+" tokens. However, your "+param+" resulted in "+
			strconv.Itoa(tokens)+" tokens. Please reduce the length of the "+param+".")
	return true
}

func kindOf(model string) string {
	for _, m := range Models {
		if m.ID == model {
			return m.Kind
		}
	}
	return ""
}

// Handler returns the sandbox's HTTP handler: POST /v1/chat/completions,
// POST /v1/responses (responses.go), POST /v1/embeddings and GET /v1/models.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", chat)
	mux.HandleFunc("POST /v1/responses", responses)
	mux.HandleFunc("POST /v1/embeddings", embeddings)
	mux.HandleFunc("GET /v1/models", models)
	return mux
}

// Switches are what the sandbox read from a chat request: the switches found in the last user message.
type Switches struct {
	Tokens          int // -1 when unset
	DelayMS         int
	FailBeforeFirst bool
	FailMidStream   bool
	NoUsage         bool
	// ToolCall (the switch tool-call, when the request has tools and its
	// last message is not a tool's result) answers with a call of the first
	// tool instead of text.
	ToolCall          bool
	ReplyWords        []string // the message's words without the switches
	PromptTokens      int      // words of all messages
	LastUserMessage   string
	RequestedMaxToken int // max_tokens or max_completion_tokens; 0 when unset
	// ContextLeft is how many tokens a simulated model's window leaves for
	// the reply; -1 when there is no window.
	ContextLeft int
}

var switchRE = regexp.MustCompile(`\[\[sandbox:([a-z-]+)(?:=(\d+))?\]\]`)

// Words counts what the sandbox calls tokens: whitespace-separated words.
func Words(s string) int { return len(strings.Fields(s)) }

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns a message's text: a string content, or the text parts of an
// array content.
func (m message) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) == nil {
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p.Text)
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
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	Tools               []struct {
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

// parseSwitches reads the switches and token counts of a chat request's messages.
func parseSwitches(req *chatRequest) Switches {
	sw := Switches{Tokens: -1, ContextLeft: -1}
	for _, m := range req.Messages {
		t := m.text()
		sw.PromptTokens += Words(t)
		if m.Role == "user" {
			sw.LastUserMessage = t
		}
	}
	for _, g := range switchRE.FindAllStringSubmatch(sw.LastUserMessage, -1) {
		n, _ := strconv.Atoi(g[2])
		switch g[1] {
		case "tokens":
			sw.Tokens = n
		case "delay-ms":
			sw.DelayMS = n
		case "fail-before-first-byte":
			sw.FailBeforeFirst = true
		case "fail-mid-stream":
			sw.FailMidStream = true
		case "no-usage":
			sw.NoUsage = true
		case "tool-call":
			sw.ToolCall = len(req.Tools) > 0
		}
	}
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == "tool" {
		// The app sent the tool's result: answer it in words.
		sw.ToolCall = false
		sw.LastUserMessage = "the tool said: " + req.Messages[n-1].text()
	}
	sw.ReplyWords = strings.Fields(switchRE.ReplaceAllString(sw.LastUserMessage, " "))
	if req.MaxTokens != nil {
		sw.RequestedMaxToken = *req.MaxTokens
	}
	if req.MaxCompletionTokens != nil {
		sw.RequestedMaxToken = *req.MaxCompletionTokens
	}
	return sw
}

// reply returns the completion tokens and the finish reason.
func (sw Switches) reply() ([]string, string) {
	words := sw.ReplyWords
	n := len(words)
	if sw.Tokens >= 0 {
		n = sw.Tokens
		if len(words) == 0 {
			words = []string{"echo"}
		}
	}
	finish := "stop"
	if sw.RequestedMaxToken > 0 && n > sw.RequestedMaxToken {
		n, finish = sw.RequestedMaxToken, "length"
	}
	if sw.ContextLeft >= 0 && n > sw.ContextLeft {
		n, finish = sw.ContextLeft, "length"
	}
	out := make([]string, n)
	for i := range out {
		w := words[i%len(words)]
		if i > 0 {
			w = " " + w
		}
		out[i] = w
	}
	return out, finish
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeErrorParam(w, status, typ, code, "", msg)
}

func writeErrorParam(w http.ResponseWriter, status int, typ, code, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var p any
	if param != "" {
		p = param
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "param": p}})
	w.Write(b)
}

func requestID(prefix string, body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return prefix + strconv.FormatUint(h.Sum64(), 36)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "body too large")
		return nil, false
	}
	return body, true
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	TotalTokens      int `json:"total_tokens"`
}

func chat(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "malformed JSON")
		return
	}
	sim := simulationOf(r)
	if !sim.serves(req.Model, "chat") {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "the sandbox has no chat model "+strconv.Quote(req.Model))
		return
	}
	sw := parseSwitches(&req)
	if sim.overContext(w, sw.PromptTokens, "messages") {
		return
	}
	if sim.contextLength > 0 {
		sw.ContextLeft = sim.contextLength - sw.PromptTokens
	}
	if sw.FailBeforeFirst {
		writeError(w, http.StatusBadGateway, "upstream_error", "upstream_error", "sandbox: failing before the first byte as asked")
		return
	}
	tokens, finish := sw.reply()
	id := requestID("chatcmpl-sbx-", body)
	delay := time.Duration(sw.DelayMS) * time.Millisecond
	u := usage{PromptTokens: sw.PromptTokens, CompletionTokens: len(tokens), TotalTokens: sw.PromptTokens + len(tokens)}

	if sw.ToolCall {
		writeToolCall(w, &req, sw, id)
		return
	}
	if !req.Stream {
		for range tokens {
			sleep(r, delay)
		}
		if sw.FailMidStream {
			panic(http.ErrAbortHandler)
		}
		resp := map[string]any{
			"id": id, "object": "chat.completion", "created": Created, "model": req.Model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": strings.Join(tokens, "")},
				"finish_reason": finish,
			}},
		}
		writeWhole(w, resp, u, sw.NoUsage)
		return
	}

	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !sw.NoUsage
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	prefix := `data: {"id":"` + id + `","object":"chat.completion.chunk","created":` + strconv.Itoa(Created) +
		`,"model":` + strconv.Quote(req.Model) + `,"choices":[`
	usageField := ""
	if includeUsage {
		usageField = `,"usage":null`
	}
	write := func(s string) bool {
		if _, err := w.Write([]byte(s)); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !write(prefix + `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]` + usageField + "}\n\n") {
		return
	}
	half := len(tokens) / 2
	for i, t := range tokens {
		if sw.FailMidStream && i == half {
			panic(http.ErrAbortHandler)
		}
		sleep(r, delay)
		content, _ := json.Marshal(t)
		if !write(prefix + `{"index":0,"delta":{"content":` + string(content) + `},"finish_reason":null}]` + usageField + "}\n\n") {
			return
		}
	}
	if sw.FailMidStream {
		panic(http.ErrAbortHandler)
	}
	if !write(prefix + `{"index":0,"delta":{},"finish_reason":"` + finish + `"}]` + usageField + "}\n\n") {
		return
	}
	if includeUsage {
		ub, _ := json.Marshal(u)
		if !write(prefix + `],"usage":` + string(ub) + "}\n\n") {
			return
		}
	}
	write("data: [DONE]\n\n")
}

func sleep(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		panic(http.ErrAbortHandler)
	}
}

func embeddings(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "malformed JSON")
		return
	}
	sim := simulationOf(r)
	if !sim.serves(req.Model, "embedding") {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "the sandbox has no embedding model "+strconv.Quote(req.Model))
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_input", "input must be a string or an array of strings")
		return
	}
	tokens := 0
	data := make([]any, len(inputs))
	for i, in := range inputs {
		if sim.overContext(w, Words(in), "input") {
			return
		}
		tokens += Words(in)
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vector(in)}
	}
	b, _ := json.Marshal(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": usage{PromptTokens: tokens, TotalTokens: tokens},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// vector is a deterministic unit vector of 8 dimensions derived from s.
func vector(s string) []float64 {
	v := make([]float64, 8)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		h.Write([]byte{byte(i)})
		h.Write([]byte(s))
		v[i] = float64(h.Sum64()%2001)/1000 - 1
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	for i := range v {
		if norm > 0 {
			v[i] = math.Round(v[i]/norm*1e6) / 1e6
		}
	}
	return v
}

func models(w http.ResponseWriter, r *http.Request) {
	data := make([]any, len(Models))
	for i, m := range Models {
		data[i] = map[string]any{"id": m.ID, "object": "model", "created": Created, "owned_by": "wattfare-sandbox"}
	}
	b, _ := json.Marshal(map[string]any{"object": "list", "data": data})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// writeToolCall answers with a call of the request's first tool, its
// arguments made from the message's words: every string property the
// tool's JSON schema lists gets them, numbers 1, booleans true.
func writeToolCall(w http.ResponseWriter, req *chatRequest, sw Switches, id string) {
	tool := req.Tools[0].Function
	var schema struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
	}
	json.Unmarshal(tool.Parameters, &schema)
	text := strings.Join(sw.ReplyWords, " ")
	args := map[string]any{}
	for name, p := range schema.Properties {
		switch p.Type {
		case "number", "integer":
			args[name] = 1
		case "boolean":
			args[name] = true
		default:
			args[name] = text
		}
	}
	ab, _ := json.Marshal(args)
	callID := "call_" + strings.TrimPrefix(id, "chatcmpl-")
	u := usage{PromptTokens: sw.PromptTokens, CompletionTokens: max(1, Words(string(ab)))}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	call := func(args string) map[string]any {
		return map[string]any{"index": 0, "id": callID, "type": "function",
			"function": map[string]any{"name": tool.Name, "arguments": args}}
	}
	if !req.Stream {
		resp := map[string]any{
			"id": id, "object": "chat.completion", "created": Created, "model": req.Model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{call(string(ab))}},
				"finish_reason": "tool_calls",
			}},
		}
		writeWhole(w, resp, u, sw.NoUsage)
		return
	}
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	chunk := func(choices []any, withUsage bool) {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": Created, "model": req.Model, "choices": choices}
		if withUsage {
			c["usage"] = u
		}
		b, _ := json.Marshal(c)
		w.Write(append(append([]byte("data: "), b...), '\n', '\n'))
		if fl != nil {
			fl.Flush()
		}
	}
	delta := func(d map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "finish_reason": finish}}
	}
	chunk(delta(map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{call("")}}, nil), false)
	chunk(delta(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": string(ab)}}}}, nil), false)
	chunk(delta(map[string]any{}, "tool_calls"), false)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !sw.NoUsage {
		chunk([]any{}, true)
	}
	w.Write([]byte("data: [DONE]\n\n"))
}

// writeWhole writes a whole chat completion, with its usage unless the
// no-usage switch is on.
func writeWhole(w http.ResponseWriter, resp map[string]any, u usage, noUsage bool) {
	if !noUsage {
		resp["usage"] = u
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
