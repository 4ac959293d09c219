package dataplane

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/bytebufferpool"

	"github.com/wattfare/wattfare"
)

// The OpenAI Responses API (POST /v1/responses), which the AI SDK's default
// OpenAI provider (openai("gpt-4o") in @ai-sdk/openai 3) and the openai
// clients' responses.create call. It is served like chat completions — the
// same auth, holds, typed errors and metering — and forwarded to the
// upstream's /responses (OpenRouter's Responses endpoint, the sandbox's).
// What differs is the wire: the output limit is max_output_tokens, the
// prompt is input (a string or a list of items) plus instructions, usage is
// {input_tokens, output_tokens, output_tokens_details.reasoning_tokens}, and
// a stream is typed events ending with response.completed, whose response
// carries the usage, rather than chunks and data: [DONE].

// responsesFields are the top-level fields of a Responses request that the
// proxy meters or rewrites: each must appear once, in lower case, without
// escapes (checkKey), so that the upstream reads what was metered.
var responsesFields = []string{
	"model", "stream", "max_output_tokens", "input", "instructions", "tools", "text", "reasoning",
	"prompt", "previous_response_id", "conversation", "background", "n",
}

// ParseResponsesRequest reads a Responses API request. It fails with
// EInvalidRequest for malformed JSON, a missing model or input, fields of
// the wrong type, metered fields named twice or in another case, and for
// what Wattfare cannot meter: a stored conversation the upstream would add
// to the prompt (previous_response_id, conversation, prompt templates) and
// background responses, whose cost arrives after the request.
func ParseResponsesRequest(body []byte) (Request, error) {
	r := Request{Choices: 1, Responses: true}
	if !gjson.ValidBytes(body) {
		return r, invalid("", "the request body is not valid JSON")
	}
	root := gjson.Parse(b2s(body))
	if !root.IsObject() {
		return r, invalid("", "the request body must be a JSON object")
	}
	var model, stream, maxOut, input, instructions gjson.Result
	var extraBytes int64
	var seen uint32
	var bad *wattfare.Error
	root.ForEach(func(key, value gjson.Result) bool {
		if bad = checkKey(key, responsesFields, &seen, ""); bad != nil {
			return false
		}
		switch key.Str {
		case "model":
			model = value
		case "stream":
			stream = value
		case "max_output_tokens":
			maxOut = value
		case "input":
			input = value
		case "instructions":
			instructions = value
		case "tools", "text", "reasoning":
			extraBytes += int64(len(value.Raw))
		case "previous_response_id", "conversation", "prompt":
			if value.Type != gjson.Null {
				bad = invalid(key.Str, key.Str+" is not supported: send the whole conversation in input, so that what is metered is what the model reads")
				return false
			}
		case "background":
			if value.Type == gjson.True {
				bad = invalid("background", "background responses are not supported")
				return false
			}
		case "n":
			if value.Type != gjson.Null && value.Raw != "1" {
				bad = invalid("n", "the Responses API makes one response per request")
				return false
			}
		}
		return true
	})
	if bad != nil {
		return r, bad
	}
	if model.Type != gjson.String || model.Str == "" {
		return r, invalid("model", "model must be a non-empty string")
	}
	r.Model = strings.Clone(model.Str)
	switch stream.Type {
	case gjson.Null, gjson.False:
	case gjson.True:
		r.Stream = true
	default:
		return r, invalid("stream", "stream must be a boolean")
	}
	if maxOut.Exists() && maxOut.Type != gjson.Null {
		v, err := strconv.ParseInt(maxOut.Raw, 10, 64)
		if maxOut.Type != gjson.Number || err != nil || v < 1 || v > 1<<30 {
			return r, invalid("max_output_tokens", "max_output_tokens must be a positive integer")
		}
		r.MaxTokens, r.LimitField, r.HasMaxTokens = v, "max_output_tokens", true
	}
	var words, textBytes, images, overhead int64
	count := func(s string) {
		words += countWords(s)
		textBytes += int64(len(s))
	}
	switch {
	case instructions.Type == gjson.String:
		count(instructions.Str)
	case instructions.Exists() && instructions.Type != gjson.Null:
		return r, invalid("instructions", "instructions must be a string")
	}
	// content counts one item's content: a string, or parts (input_text,
	// output_text, input_image, input_file, …).
	content := func(c gjson.Result) {
		switch {
		case c.Type == gjson.String:
			count(c.Str)
		case c.IsArray():
			c.ForEach(func(_, part gjson.Result) bool {
				switch t := part.Get("type").Str; {
				case t == "input_image" || t == "image_url" || t == "image":
					images++
				case part.Get("text").Type == gjson.String:
					count(part.Get("text").Str)
					textBytes += int64(len(part.Raw)) - int64(len(part.Get("text").Raw))
					return true
				}
				textBytes += int64(len(part.Raw)) // files, audio, refusals: every byte
				return true
			})
		}
	}
	switch {
	case input.Type == gjson.String:
		count(input.Str)
	case input.IsArray():
		input.ForEach(func(_, item gjson.Result) bool {
			if !item.IsObject() {
				bad = invalid("input", "each input item must be an object")
				return false
			}
			overhead += messageOverhead
			c := item.Get("content")
			content(c)
			// Roles, function calls and their outputs, reasoning items:
			// every other byte of the item is prompt too.
			textBytes += int64(len(item.Raw)) - int64(len(c.Raw))
			return true
		})
		if bad != nil {
			return r, bad
		}
	default:
		return r, invalid("input", "input must be a string or an array of input items")
	}
	r.PromptWords = words
	r.PromptEstimate = max(words, (textBytes+2)/3) + overhead + (extraBytes+2)/3 + images*imageTokens
	return r, nil
}

// rewriteResponses is Rewrite for a Responses request: the model renamed to
// the upstream's, and max_output_tokens set to what the hold covers. Usage
// needs no asking: response.completed always carries it.
func rewriteResponses(buf *bytebufferpool.ByteBuffer, body []byte, r *Request, upstreamModel string, maxTokens int64) ([]byte, error) {
	var err error
	if upstreamModel != "" && upstreamModel != r.Model {
		if body, err = sjson.SetBytes(body, "model", upstreamModel); err != nil {
			return nil, err
		}
	}
	if maxTokens <= 0 || maxTokens == r.MaxTokens {
		return body, nil
	}
	if r.HasMaxTokens {
		return sjson.SetRawBytes(body, "max_output_tokens", strconv.AppendInt(nil, maxTokens, 10))
	}
	var ins [48]byte
	insert := strconv.AppendInt(append(ins[:0], `"max_output_tokens":`...), maxTokens, 10)
	insert = append(insert, ',')
	open := bytes.IndexByte(body, '{') + 1
	var out []byte
	if buf != nil {
		out = buf.B[:0]
	}
	out = append(out, body[:open]...)
	out = append(out, insert...)
	out = append(out, body[open:]...)
	if buf != nil {
		buf.B = out
	}
	return out, nil
}

// meterEvent classifies and meters one event of the call's stream.
func (c *call) meterEvent(ev []byte, u *streamUsage) eventKind {
	if c.endpoint == "responses" {
		return meterResponsesEvent(ev, u)
	}
	return meterEvent(ev, u)
}

// meterWhole meters a whole (non-streamed) answer of the call.
func (c *call) meterWhole(body []byte, u *streamUsage) {
	if c.endpoint == "responses" {
		meterResponse(gjson.Parse(b2s(body)), u)
		return
	}
	meterWhole(body, u)
}

// errorEvent is the final event of the call's stream when it fails after
// its first byte.
func (c *call) errorEvent(e *wattfare.Error) []byte {
	if c.endpoint == "responses" {
		return c.s.responsesErrorEvent(e)
	}
	return c.s.errorEvent(e)
}

// meterResponsesEvent meters one event of a Responses stream: the text and
// arguments of each delta are counted (what is charged if the stream ends
// without usage), response.completed and response.incomplete carry the
// usage and end the stream (settle, then pass them on), and
// response.failed and error end it as the upstream's error.
func meterResponsesEvent(ev []byte, u *streamUsage) eventKind {
	data := eventData(ev)
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return eventPass
	}
	root := gjson.Parse(b2s(data)) // views data: keep only clones
	typ := root.Get("type").Str
	switch typ {
	case "response.output_text.delta", "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
		"response.refusal.delta", "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
		if d := root.Get("delta"); d.Type == gjson.String {
			u.Counted += countText(d.Str)
		}
		return eventPass
	case "response.created", "response.in_progress":
		if id := root.Get("response.id"); id.Type == gjson.String && u.UpstreamID == "" {
			u.UpstreamID = strings.Clone(id.Str)
		}
		return eventPass
	case "response.completed", "response.incomplete":
		meterResponse(root.Get("response"), u)
		u.Finished = true
		return eventDone
	case "response.failed", "error":
		if resp := root.Get("response"); resp.IsObject() {
			meterResponse(resp, u)
		}
		return eventError
	}
	return eventPass
}

// meterResponse reads a response object: its id, its usage, and, for the
// case it has none, a count of its output.
func meterResponse(resp gjson.Result, u *streamUsage) {
	if id := resp.Get("id"); id.Type == gjson.String && u.UpstreamID == "" {
		u.UpstreamID = strings.Clone(id.Str)
	}
	if usage := resp.Get("usage"); usage.IsObject() {
		readResponsesUsage(usage, u)
		return
	}
	var counted int64
	resp.Get("output").ForEach(func(_, item gjson.Result) bool {
		item.Get("content").ForEach(func(_, part gjson.Result) bool {
			counted += countText(part.Get("text").Str) + countText(part.Get("refusal").Str)
			return true
		})
		item.Get("summary").ForEach(func(_, part gjson.Result) bool {
			counted += countText(part.Get("text").Str)
			return true
		})
		counted += countText(item.Get("arguments").Str) + countText(item.Get("name").Str)
		return true
	})
	u.Counted = max(u.Counted, counted)
}

// readResponsesUsage reads a Responses usage object ({input_tokens,
// output_tokens, input_tokens_details.cached_tokens,
// output_tokens_details.reasoning_tokens}, with OpenRouter's cost), as
// readUsage does chat's: the largest figure of each.
func readResponsesUsage(usage gjson.Result, u *streamUsage) {
	u.HaveUsage = true
	usage.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "input_tokens":
			u.PromptTokens = max(u.PromptTokens, v.Int())
		case "output_tokens":
			u.CompletionTokens = max(u.CompletionTokens, v.Int())
		case "input_tokens_details":
			u.CachedTokens = max(u.CachedTokens, v.Get("cached_tokens").Int())
		case "output_tokens_details":
			u.ReasoningTokens = max(u.ReasoningTokens, v.Get("reasoning_tokens").Int())
		case "cost":
			if v.Type == gjson.Number {
				if m, ok := parseUSD(v.Raw); ok && (!u.HaveCost || m > u.Cost) {
					u.Cost, u.HaveCost = m, true
				}
			}
		}
		return true
	})
}

// responsesErrorEvent is the final event of a Responses stream that fails
// after its first byte: an "error" event, as the Responses API sends one,
// with the envelope's code, message and metadata (limit_source, cap_usd…).
func (s *Server) responsesErrorEvent(e *wattfare.Error) []byte {
	body := s.errorBody(e)
	b, _ := json.Marshal(struct {
		Type     string         `json:"type"`
		Sequence int            `json:"sequence_number"`
		Code     string         `json:"code"`
		Message  string         `json:"message"`
		Param    *string        `json:"param"`
		Metadata map[string]any `json:"metadata,omitempty"`
		Error    envelopeBody   `json:"error"`
	}{Type: "error", Code: body.Code, Message: body.Message, Param: body.Param, Metadata: body.Metadata, Error: body})
	out := make([]byte, 0, len(b)+24)
	out = append(out, "event: error\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}
