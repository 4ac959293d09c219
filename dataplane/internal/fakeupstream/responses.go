package fakeupstream

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Responses API (POST …/responses) with the same knobs: the request
// read as encoding/json reads it (max_output_tokens honoured under
// HonourMaxTokens), the reply a message of Tokens tokens, hidden reasoning
// reported in output_tokens_details, a stream of typed events (TokensPerDelta
// per delta, Style, CRLF, Comments, NoSpace, Gzip, DeltaDelay) ending with
// response.completed carrying the usage (UsageNever: none; UsageRepeat
// more copies; UsageSplit cut inside "usage").

type responsesRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    string          `json:"instructions"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	Tools           json.RawMessage `json:"tools"`
}

func (req *responsesRequest) promptWords() int {
	n := len(strings.Fields(req.Instructions))
	var s string
	if json.Unmarshal(req.Input, &s) == nil {
		return n + len(strings.Fields(s))
	}
	var items []message
	json.Unmarshal(req.Input, &items)
	for _, m := range items {
		n += len(strings.Fields(m.text()))
	}
	return n
}

type responsesUsage struct {
	InputTokens   int `json:"input_tokens"`
	InputDetails  any `json:"input_tokens_details"`
	OutputTokens  int `json:"output_tokens"`
	OutputDetails any `json:"output_tokens_details"`
	TotalTokens   int `json:"total_tokens"`
}

func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request, x *Exchange) {
	raw, err := io.ReadAll(r.Body)
	x.Received.ContentEncoding = r.Header.Get("Content-Encoding")
	if err == nil && strings.EqualFold(x.Received.ContentEncoding, "gzip") {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(raw)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	}
	x.Received.Body = raw
	var req responsesRequest
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
	rc.Model, rc.Stream, rc.MaxTokens, rc.N = req.Model, req.Stream, req.MaxOutputTokens, 1
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
	prompt := req.promptWords() + quarterBytes(req.Tools)
	visible, status := b.Tokens, "completed"
	if b.HonourMaxTokens && req.MaxOutputTokens != nil && *req.MaxOutputTokens > 0 && visible > *req.MaxOutputTokens {
		visible, status = *req.MaxOutputTokens, "incomplete"
	}
	if b.TokensPerDelta <= 0 {
		b.TokensPerDelta = 1
	}
	x.Sent.PromptTokens, x.Sent.Hidden = prompt, b.HiddenReasoning
	x.Sent.Completion = visible + b.HiddenReasoning
	u := responsesUsage{InputTokens: prompt, InputDetails: map[string]int{"cached_tokens": 0}, OutputTokens: x.Sent.Completion,
		OutputDetails: map[string]int{"reasoning_tokens": b.HiddenReasoning}, TotalTokens: prompt + x.Sent.Completion}
	p := &replyWriter{b: b, w: w, x: x}
	id := "resp_fake_" + x.RequestID
	response := func(st string, text *string, withUsage bool) map[string]any {
		m := map[string]any{"id": id, "object": "response", "created_at": created, "model": req.Model, "status": st, "output": []any{}}
		if text != nil {
			m["output"] = []any{map[string]any{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
				"content": []any{map[string]any{"type": "output_text", "text": *text, "annotations": []any{}}}}}
		}
		if withUsage {
			m["usage"] = u
		}
		return m
	}
	text := tokens(visible)
	if !req.Stream {
		body := p.marshal(response(status, &text, b.Usage != UsageNever), b.Style)
		if b.Usage != UsageNever {
			x.Sent.UsageSent = 1
		}
		p.header("application/json")
		if p.write(body) {
			x.Sent.Visible = visible
			p.finish()
			x.Sent.Complete = p.err == nil
		}
		return
	}
	p.header("text/event-stream")
	ev := func(typ string, fields map[string]any, split bool) bool {
		fields["type"] = typ
		// Without the event: line, which OpenAI sends but clients and
		// Wattfare read the type from the data: some servers omit it.
		return p.event(p.marshal(fields, b.Style), split)
	}
	if !ev("response.created", map[string]any{"response": response("in_progress", nil, false)}, false) {
		return
	}
	for sent := 0; sent < visible; {
		if b.DeltaDelay > 0 {
			select {
			case <-time.After(b.DeltaDelay):
			case <-r.Context().Done():
				return
			}
		}
		k := min(b.TokensPerDelta, visible-sent)
		if !ev("response.output_text.delta", map[string]any{"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": tokens(k)}, false) {
			return
		}
		sent += k
		x.Sent.Visible = sent
	}
	final := "response." + status
	withUsage := b.Usage != UsageNever
	for i := 0; i <= b.UsageRepeat || i == 0; i++ {
		if !ev(final, map[string]any{"response": response(status, &text, withUsage)}, withUsage && b.UsageSplit) {
			return
		}
		if withUsage {
			x.Sent.UsageSent++
		}
		if !withUsage {
			break
		}
	}
	p.finish()
	x.Sent.Complete = p.err == nil
}
