package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Responses API (POST /v1/responses), answered like chat completions:
// the reply echoes the last user input, the same switches apply
// ([[sandbox:tokens=N]], delay-ms, fail-before-first-byte, fail-mid-stream,
// no-usage), prompt tokens are the words of the instructions and every
// input item, and max_output_tokens bounds the reply (status "incomplete",
// reason max_output_tokens). A stream is the Responses API's typed events,
// ending with response.completed (or response.incomplete), whose response
// carries the usage.

type responsesRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    string          `json:"instructions"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
}

// messages turns the request's instructions and input into chat messages,
// for parseSwitches: input is a string (one user message) or items with a
// role and string or part content; other items (function calls and their
// outputs) count as the tool's words.
func (req *responsesRequest) messages() []message {
	var msgs []message
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	if req.Instructions != "" {
		msgs = append(msgs, message{Role: "system", Content: str(req.Instructions)})
	}
	var s string
	if json.Unmarshal(req.Input, &s) == nil {
		return append(msgs, message{Role: "user", Content: str(s)})
	}
	var items []struct {
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
		Output  json.RawMessage `json:"output"`
	}
	_ = json.Unmarshal(req.Input, &items)
	for _, it := range items {
		switch {
		case it.Role != "":
			msgs = append(msgs, message{Role: it.Role, Content: it.Content})
		case it.Type == "function_call_output":
			msgs = append(msgs, message{Role: "tool", Content: it.Output})
		}
	}
	return msgs
}

func responses(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req responsesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "malformed JSON")
		return
	}
	sim := simulationOf(r)
	if !sim.serves(req.Model, "chat") {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "the sandbox has no model "+strconv.Quote(req.Model))
		return
	}
	creq := chatRequest{Model: req.Model, Messages: req.messages(), MaxTokens: req.MaxOutputTokens}
	sw := parseSwitches(&creq)
	sw.ToolCall = false
	if sim.overContext(w, sw.PromptTokens, "input") {
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
	id := requestID("resp_sbx", body)
	msgID := "msg_" + strings.TrimPrefix(id, "resp_")
	delay := time.Duration(sw.DelayMS) * time.Millisecond
	text := strings.Join(tokens, "")
	status, incomplete := "completed", any(nil)
	if finish == "length" {
		status, incomplete = "incomplete", map[string]any{"reason": "max_output_tokens"}
	}
	var usage any
	if !sw.NoUsage {
		usage = map[string]any{
			"input_tokens": sw.PromptTokens, "input_tokens_details": map[string]any{"cached_tokens": 0},
			"output_tokens": len(tokens), "output_tokens_details": map[string]any{"reasoning_tokens": 0},
			"total_tokens": sw.PromptTokens + len(tokens),
		}
	}
	part := func(t string) map[string]any {
		return map[string]any{"type": "output_text", "text": t, "annotations": []any{}}
	}
	item := func(st string, content []any) map[string]any {
		return map[string]any{"type": "message", "id": msgID, "status": st, "role": "assistant", "content": content}
	}
	response := func(st string, output []any, usage any, incomplete any) map[string]any {
		return map[string]any{
			"id": id, "object": "response", "created_at": Created, "status": st, "model": req.Model,
			"output": output, "usage": usage, "incomplete_details": incomplete, "error": nil,
			"instructions": nilIfEmpty(req.Instructions), "max_output_tokens": req.MaxOutputTokens,
			"parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}, "text": map[string]any{"format": map[string]any{"type": "text"}},
		}
	}
	done := item("completed", []any{part(text)})

	if !req.Stream {
		for range tokens {
			sleep(r, delay)
		}
		if sw.FailMidStream {
			panic(http.ErrAbortHandler)
		}
		b, _ := json.Marshal(response(status, []any{done}, usage, incomplete))
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}

	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	seq := 0
	event := func(typ string, fields map[string]any) bool {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		b, _ := json.Marshal(fields)
		if _, err := w.Write([]byte("event: " + typ + "\ndata: " + string(b) + "\n\n")); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !event("response.created", map[string]any{"response": response("in_progress", []any{}, nil, nil)}) ||
		!event("response.in_progress", map[string]any{"response": response("in_progress", []any{}, nil, nil)}) ||
		!event("response.output_item.added", map[string]any{"output_index": 0, "item": item("in_progress", []any{})}) ||
		!event("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": part("")}) {
		return
	}
	half := len(tokens) / 2
	for i, t := range tokens {
		if sw.FailMidStream && i == half {
			panic(http.ErrAbortHandler)
		}
		sleep(r, delay)
		if !event("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "delta": t, "logprobs": []any{}}) {
			return
		}
	}
	if sw.FailMidStream {
		panic(http.ErrAbortHandler)
	}
	if !event("response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}}) ||
		!event("response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": part(text)}) ||
		!event("response.output_item.done", map[string]any{"output_index": 0, "item": done}) {
		return
	}
	event("response."+status, map[string]any{"response": response(status, []any{done}, usage, incomplete)})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
