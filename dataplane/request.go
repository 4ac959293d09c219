package dataplane

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/wattfare/wattfare"
)

// Request is what the proxy needs to know about a client's request body. It
// is read with gjson, which scans the bytes in place: the body is never
// decoded into maps and re-marshalled, and it is forwarded as it came except
// for the few byte edits in Rewrite.
type Request struct {
	Model        string
	Stream       bool
	IncludeUsage bool // the client asked for stream_options.include_usage
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when neither is set.
	MaxTokens int64
	// PromptEstimate bounds the prompt's tokens from above for the hold:
	// the larger of its words and a quarter of its text bytes.
	PromptEstimate int64
	// PromptWords counts the words of every message (or input), which is
	// what the sandbox calls prompt tokens.
	PromptWords int64
}

func invalid(param, msg string) *wattfare.Error {
	return &wattfare.Error{Code: wattfare.EInvalidRequest, Message: msg, Field: param}
}

// ParseChatRequest reads a chat completion request. It fails with
// EInvalidRequest for malformed JSON, a missing model or messages, and
// fields of the wrong type.
func ParseChatRequest(body []byte) (Request, error) {
	return parseRequest(body, "messages")
}

// ParseEmbeddingsRequest reads an embeddings request.
func ParseEmbeddingsRequest(body []byte) (Request, error) {
	return parseRequest(body, "input")
}

func parseRequest(body []byte, textField string) (Request, error) {
	var r Request
	if !gjson.ValidBytes(body) {
		return r, invalid("", "the request body is not valid JSON")
	}
	root := gjson.Parse(b2s(body)) // results point into body; only Model is kept, cloned
	if !root.IsObject() {
		return r, invalid("", "the request body must be a JSON object")
	}
	var model, stream, streamOpts, maxTokens, maxCompletion, text gjson.Result
	root.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			model = value
		case "stream":
			stream = value
		case "stream_options":
			streamOpts = value
		case "max_tokens":
			maxTokens = value
		case "max_completion_tokens":
			maxCompletion = value
		case textField:
			text = value
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return r, invalid("model", "model must be a non-empty string")
	}
	r.Model = strings.Clone(model.Str)
	switch stream.Type {
	case gjson.Null:
	case gjson.True:
		r.Stream = true
	case gjson.False:
	default:
		return r, invalid("stream", "stream must be a boolean")
	}
	if streamOpts.Exists() && streamOpts.Type != gjson.Null {
		if !streamOpts.IsObject() {
			return r, invalid("stream_options", "stream_options must be an object")
		}
		r.IncludeUsage = streamOpts.Get("include_usage").Type == gjson.True
	}
	for _, f := range []struct {
		name string
		v    gjson.Result
	}{{"max_tokens", maxTokens}, {"max_completion_tokens", maxCompletion}} {
		if !f.v.Exists() || f.v.Type == gjson.Null {
			continue
		}
		n, err := strconv.ParseInt(f.v.Raw, 10, 64)
		if f.v.Type != gjson.Number || err != nil || n < 1 || n > 1<<30 {
			return r, invalid(f.name, f.name+" must be a positive integer")
		}
		if f.name == "max_tokens" && r.MaxTokens == 0 || f.name == "max_completion_tokens" {
			r.MaxTokens = n
		}
	}
	var words, textBytes int64
	count := func(s string) {
		words += countWords(s)
		textBytes += int64(len(s))
	}
	switch textField {
	case "messages":
		if !text.IsArray() {
			return r, invalid("messages", "messages must be an array")
		}
		bad := false
		text.ForEach(func(_, msg gjson.Result) bool {
			if !msg.IsObject() {
				bad = true
				return false
			}
			c := msg.Get("content")
			switch {
			case c.Type == gjson.String:
				count(c.Str)
			case c.IsArray():
				c.ForEach(func(_, part gjson.Result) bool {
					if t := part.Get("text"); t.Type == gjson.String {
						count(t.Str)
					} else {
						textBytes += int64(len(part.Raw))
					}
					return true
				})
			case c.Type == gjson.Null || !c.Exists():
			default:
				bad = true
				return false
			}
			// Tool calls and other fields cost tokens too.
			textBytes += int64(len(msg.Raw)) - int64(len(c.Raw))
			return true
		})
		if bad {
			return r, invalid("messages", "each message must be an object with string or array content")
		}
	case "input":
		switch {
		case text.Type == gjson.String:
			count(text.Str)
		case text.IsArray():
			bad := false
			text.ForEach(func(_, in gjson.Result) bool {
				switch {
				case in.Type == gjson.String:
					count(in.Str)
				case in.Type == gjson.Number:
					words++ // a token id
				case in.IsArray():
					words += int64(len(in.Array()))
				default:
					bad = true
					return false
				}
				return true
			})
			if bad {
				return r, invalid("input", "input must be a string or an array of strings or token arrays")
			}
		default:
			return r, invalid("input", "input must be a string or an array")
		}
	}
	r.PromptWords = words
	r.PromptEstimate = max(words, (textBytes+3)/4)
	return r, nil
}

func countWords(s string) int64 {
	var n int64
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}

// Rewrite returns the body to send upstream: the model renamed to the
// upstream's name, stream_options.include_usage forced on for streams (usage
// is always metered), and max_tokens set when the hold was clamped
// (clampTokens > 0). Each edit splices bytes; the rest of the body is
// forwarded untouched.
func Rewrite(body []byte, r *Request, upstreamModel string, clampTokens int64) ([]byte, error) {
	var err error
	if upstreamModel != "" && upstreamModel != r.Model {
		if body, err = sjson.SetBytes(body, "model", upstreamModel); err != nil {
			return nil, err
		}
	}
	if r.Stream && !r.IncludeUsage {
		if body, err = sjson.SetRawBytes(body, "stream_options.include_usage", []byte("true")); err != nil {
			return nil, err
		}
	}
	if clampTokens > 0 {
		if body, err = sjson.SetRawBytes(body, "max_tokens", strconv.AppendInt(nil, clampTokens, 10)); err != nil {
			return nil, err
		}
	}
	return body, nil
}
