package openroutertest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/wattfare/wattfare"
)

// Completions price every model the fixture answers, per token, in
// pico-dollars: $1 per million prompt tokens and $2 per million completion
// tokens unless SetPrices says otherwise. OpenRouter reports a
// completion's cost in usage.cost; the fixture charges that cost to the
// calling key's usage.
type chatState struct {
	prompt, completion wattfare.Price
	words              int // completion tokens when the request sets no limit
}

func (s *Server) registerChat() {
	s.chat = chatState{prompt: wattfare.PricePerMillion(wattfare.USD(1)), completion: wattfare.PricePerMillion(wattfare.USD(2)), words: 20}
	s.mux.HandleFunc("POST /api/v1/chat/completions", s.serveChat)
}

// SetPrices sets what a prompt and a completion token cost.
func (s *Server) SetPrices(prompt, completion wattfare.Price) {
	s.mu.Lock()
	s.chat.prompt, s.chat.completion = prompt, completion
	s.mu.Unlock()
}

// SetReplyTokens sets how many tokens a reply has when the request sets no
// output limit (max_tokens, max_completion_tokens, max_output_tokens).
func (s *Server) SetReplyTokens(n int) {
	s.mu.Lock()
	s.chat.words = n
	s.mu.Unlock()
}

// completion is what one request is answered with.
type completion struct {
	model              string
	stream             bool
	includeUsage       bool
	prompt, completion int64
	cost               wattfare.Money
}

// plan reads a request the way OpenRouter bills it: prompt tokens are the
// words of every message (or of the Responses API's input), the reply is
// the configured number of tokens, bounded by the request's output limit.
func (s *Server) plan(body map[string]any) completion {
	s.mu.Lock()
	st := s.chat
	s.mu.Unlock()
	c := completion{}
	c.model, _ = body["model"].(string)
	c.stream, _ = body["stream"].(bool)
	if so, ok := body["stream_options"].(map[string]any); ok {
		c.includeUsage, _ = so["include_usage"].(bool)
	}
	c.prompt = int64(countWords(body["messages"]) + countWords(body["input"]) + countWords(body["instructions"]))
	if c.prompt == 0 {
		c.prompt = 1
	}
	c.completion = int64(st.words)
	for _, f := range []string{"max_tokens", "max_completion_tokens", "max_output_tokens"} {
		if n, ok := body[f].(json.Number); ok {
			if v, err := n.Int64(); err == nil && v >= 0 && v < c.completion {
				c.completion = v
			}
		}
	}
	c.cost = st.prompt.Cost(c.prompt) + st.completion.Cost(c.completion)
	return c
}

// countWords counts the words of every string in v, however nested.
func countWords(v any) int {
	switch v := v.(type) {
	case string:
		return len(strings.Fields(v))
	case []any:
		n := 0
		for _, e := range v {
			n += countWords(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			if k == "content" || k == "text" {
				n += countWords(e)
			} else if _, nested := e.([]any); nested {
				n += countWords(e)
			}
		}
		return n
	}
	return 0
}

// cost formats c as OpenRouter's usage.cost, a JSON number of USD.
func (c completion) costJSON() json.RawMessage { return json.RawMessage(c.cost.String()) }

func reply(n int64) []string {
	words := make([]string, n)
	for i := range words {
		words[i] = "word" + strconv.FormatInt(int64(i+1), 10)
		if i > 0 {
			words[i] = " " + words[i]
		}
	}
	return words
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	key, ok := s.admitKey(w, r)
	if !ok {
		return
	}
	body, ok := readBody(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	c := s.plan(body)
	id := "gen-" + randomHex(8)
	w.Header().Set("X-Generation-Id", id)
	usage := map[string]any{
		"prompt_tokens": c.prompt, "completion_tokens": c.completion, "total_tokens": c.prompt + c.completion,
		"cost": c.costJSON(), "prompt_tokens_details": map[string]any{"cached_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0},
	}
	words := reply(c.completion)
	// OpenRouter charges the key once the completion ran, whether or not
	// the client read all of it.
	defer s.charge(key, c.cost)
	if !c.stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(map[string]any{
			"id": id, "object": "chat.completion", "model": c.model, "provider": "Fixture",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": strings.Join(words, "")}}},
			"usage": usage,
		}))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(b []byte) {
		_, _ = w.Write(b)
		if fl != nil {
			fl.Flush()
		}
	}
	send([]byte(": OPENROUTER PROCESSING\n\n"))
	chunk := func(delta map[string]any, finish any, usage any) []byte {
		m := map[string]any{"id": id, "object": "chat.completion.chunk", "model": c.model, "provider": "Fixture",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		if usage != nil {
			m["usage"] = usage
		}
		return append(append([]byte("data: "), mustJSON(m)...), '\n', '\n')
	}
	for i, word := range words {
		delta := map[string]any{"content": word}
		if i == 0 {
			delta["role"] = "assistant"
		}
		send(chunk(delta, nil, nil))
	}
	// OpenRouter sends usage always, on a last chunk that still carries
	// its choice with the finish reason.
	send(chunk(map[string]any{"content": ""}, "stop", usage))
	send([]byte("data: [DONE]\n\n"))
}
