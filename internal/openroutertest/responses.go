package openroutertest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// OpenRouter's Responses API (POST /api/v1/responses, OpenAI's Responses
// format): the same keys, limits and prices as chat completions, the reply
// as output items, usage as {input_tokens, output_tokens, …, cost}, and a
// stream of typed events ending with response.completed.

func (s *Server) registerResponses() {
	s.mux.HandleFunc("POST /api/v1/responses", s.serveResponses)
}

func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request) {
	key, ok := s.admitKey(w, r)
	if !ok {
		return
	}
	body, ok := readBody(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if _, has := body["input"]; !has {
		writeError(w, http.StatusBadRequest, "input is required")
		return
	}
	c := s.plan(body)
	id := "gen-" + randomHex(8)
	msgID := "msg_" + randomHex(8)
	w.Header().Set("X-Generation-Id", id)
	text := strings.Join(reply(c.completion), "")
	usage := map[string]any{
		"input_tokens": c.prompt, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": c.completion, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": c.prompt + c.completion, "cost": c.costJSON(),
	}
	item := map[string]any{"type": "message", "id": msgID, "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	response := func(status string, output []any, usage any) map[string]any {
		return map[string]any{"id": id, "object": "response", "created_at": 1767225600, "model": c.model,
			"status": status, "output": output, "usage": usage, "incomplete_details": nil, "error": nil}
	}
	defer s.charge(key, c.cost)
	if !c.stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(response("completed", []any{item}, usage)))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	seq := 0
	event := func(typ string, fields map[string]any) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(fields)
		_, _ = w.Write([]byte("event: " + typ + "\ndata: " + string(b) + "\n\n"))
		if fl != nil {
			fl.Flush()
		}
	}
	_, _ = w.Write([]byte(": OPENROUTER PROCESSING\n\n"))
	event("response.created", map[string]any{"response": response("in_progress", []any{}, nil)})
	event("response.output_item.added", map[string]any{"output_index": 0,
		"item": map[string]any{"type": "message", "id": msgID, "status": "in_progress", "role": "assistant", "content": []any{}}})
	for _, word := range reply(c.completion) {
		event("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "delta": word})
	}
	event("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	event("response.completed", map[string]any{"response": response("completed", []any{item}, usage)})
}
