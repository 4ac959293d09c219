package dataplane

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/bytebufferpool"

	"github.com/wattfare/wattfare"
)

// Request is what the proxy needs to know about a client's request body. It
// is read with gjson, which scans the bytes in place: the body is never
// decoded into maps and re-marshalled, and it is forwarded as it came except
// for the few byte edits in Rewrite.
//
// What is metered is what the upstream reads: a body that names a field we
// meter or rewrite twice, or in another case ("MAX_TOKENS", which Go's
// encoding/json and so Go-based servers read as max_tokens), or with escapes
// in its name, is refused with invalid_request naming the field. Parsers
// disagree on which duplicate wins (most keep the last; sjson edits the
// first), so no reading of such a body is safe.
type Request struct {
	Model        string
	Stream       bool
	IncludeUsage bool // the client asked for stream_options.include_usage
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when neither
	// is set. LimitField names the field it came from.
	MaxTokens  int64
	LimitField string
	// HasMaxTokens and HasMaxCompletion say which limit fields the body
	// has, HasStreamOptions whether it has stream_options (even null).
	HasMaxTokens, HasMaxCompletion, HasStreamOptions bool
	// Responses marks a Responses API request (ParseResponsesRequest): its
	// limit field is max_output_tokens, and Rewrite edits that. Beside the
	// other flags, so that it takes no word of its own in every call.
	Responses bool
	// Choices is n (1 when absent).
	Choices int64
	// PromptEstimate bounds the prompt's tokens from above for the hold:
	// every byte the upstream bills as prompt (messages with their system
	// and tool parts, tools, functions, response_format, predictions) at
	// one token per three bytes or one per word, whichever is more, and a
	// fixed allowance per image.
	PromptEstimate int64
	// PromptWords counts the words of every message (or input), which is
	// what the sandbox calls prompt tokens.
	PromptWords int64
}

func invalid(param, msg string) *wattfare.Error {
	return &wattfare.Error{Code: wattfare.EInvalidRequest, Message: msg, Field: param}
}

// ParseChatRequest reads a chat completion request. It fails with
// EInvalidRequest for malformed JSON, a missing model or messages, fields of
// the wrong type, and metered fields named twice or in another case.
func ParseChatRequest(body []byte) (Request, error) {
	return parseRequest(body, "messages")
}

// ParseEmbeddingsRequest reads an embeddings request.
func ParseEmbeddingsRequest(body []byte) (Request, error) {
	return parseRequest(body, "input")
}

// meteredFields are the top-level fields the proxy meters or rewrites.
var meteredFields = []string{
	"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n",
	"messages", "input", "tools", "functions", "response_format", "prediction",
}

// imageTokens is what one image part is held for: more than a high-detail
// image costs on OpenAI's and Anthropic's models (about 1,100 and 1,600).
const imageTokens = 2000

// messageOverhead is the tokens a chat format adds per message.
const messageOverhead = 4

// checkKey refuses a key that is, or folds to, one of the fields in known
// and was seen before, differs from it only by case, or spells it with
// escapes. seen collects the exact names met.
func checkKey(key gjson.Result, known []string, seen *uint32, where string) *wattfare.Error {
	// An ASCII name folds only to names of its own length; one with other
	// bytes may fold to a shorter one ("\u212a" is a K).
	ascii := isASCII(key.Str)
	for i, name := range known {
		if len(key.Str) != len(name) && (ascii || !strings.EqualFold(key.Str, name)) {
			continue
		}
		if key.Str == name {
			if len(key.Raw) != len(name)+2 {
				return invalid(where+name, "write the field name "+name+" without escapes")
			}
			if *seen&(1<<i) != 0 {
				return invalid(where+name, "the field "+name+" appears more than once")
			}
			*seen |= 1 << i
			return nil
		}
		if strings.EqualFold(key.Str, name) {
			return invalid(where+name, "the field "+strconv.Quote(key.Str)+" differs from "+name+" only by case; send "+name+" once, in lower case")
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func parseRequest(body []byte, textField string) (Request, error) {
	r := Request{Choices: 1}
	if !gjson.ValidBytes(body) {
		return r, invalid("", "the request body is not valid JSON")
	}
	root := gjson.Parse(b2s(body)) // results point into body; only Model is kept, cloned
	if !root.IsObject() {
		return r, invalid("", "the request body must be a JSON object")
	}
	var model, stream, streamOpts, maxTokens, maxCompletion, n, text gjson.Result
	var extraBytes int64 // tools, functions, response_format, prediction
	var seen uint32
	var bad *wattfare.Error
	root.ForEach(func(key, value gjson.Result) bool {
		if bad = checkKey(key, meteredFields, &seen, ""); bad != nil {
			return false
		}
		switch key.Str {
		case "model":
			model = value
		case "stream":
			stream = value
		case "stream_options":
			streamOpts = value
			r.HasStreamOptions = true
		case "max_tokens":
			maxTokens = value
		case "max_completion_tokens":
			maxCompletion = value
		case "n":
			n = value
		case "tools", "functions", "response_format", "prediction":
			extraBytes += int64(len(value.Raw))
		case textField:
			text = value
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
		var optSeen uint32
		streamOpts.ForEach(func(key, value gjson.Result) bool {
			if bad = checkKey(key, []string{"include_usage"}, &optSeen, "stream_options."); bad != nil {
				return false
			}
			if key.Str == "include_usage" {
				r.IncludeUsage = value.Type == gjson.True
			}
			return true
		})
		if bad != nil {
			return r, bad
		}
	}
	for _, f := range []struct {
		name string
		v    gjson.Result
	}{{"max_tokens", maxTokens}, {"max_completion_tokens", maxCompletion}} {
		if !f.v.Exists() || f.v.Type == gjson.Null {
			continue
		}
		v, err := strconv.ParseInt(f.v.Raw, 10, 64)
		if f.v.Type != gjson.Number || err != nil || v < 1 || v > 1<<30 {
			return r, invalid(f.name, f.name+" must be a positive integer")
		}
		if f.name == "max_tokens" {
			r.HasMaxTokens = true
			if r.MaxTokens == 0 {
				r.MaxTokens, r.LimitField = v, f.name
			}
		} else {
			r.HasMaxCompletion = true
			r.MaxTokens, r.LimitField = v, f.name
		}
	}
	if n.Exists() && n.Type != gjson.Null {
		v, err := strconv.ParseInt(n.Raw, 10, 64)
		if n.Type != gjson.Number || err != nil || v < 1 || v > 128 {
			return r, invalid("n", "n must be an integer from 1 to 128")
		}
		r.Choices = v
	}
	var words, textBytes, images, overhead int64
	count := func(s string) {
		words += countWords(s)
		textBytes += int64(len(s))
	}
	switch textField {
	case "messages":
		if !text.IsArray() {
			return r, invalid("messages", "messages must be an array")
		}
		text.ForEach(func(_, msg gjson.Result) bool {
			if !msg.IsObject() {
				bad = invalid("messages", "each message must be an object with string or array content")
				return false
			}
			overhead += messageOverhead
			c := msg.Get("content")
			switch {
			case c.Type == gjson.String:
				count(c.Str)
			case c.IsArray():
				c.ForEach(func(_, part gjson.Result) bool {
					switch t := part.Get("type").Str; {
					case t == "image_url" || t == "image" || t == "input_image":
						images++
					case part.Get("text").Type == gjson.String:
						count(part.Get("text").Str)
						return true
					}
					textBytes += int64(len(part.Raw))
					return true
				})
			case c.Type == gjson.Null || !c.Exists():
			default:
				bad = invalid("messages", "each message must be an object with string or array content")
				return false
			}
			// Roles, names, tool calls and their results cost tokens too.
			textBytes += int64(len(msg.Raw)) - int64(len(c.Raw))
			return true
		})
		if bad != nil {
			return r, bad
		}
	case "input":
		switch {
		case text.Type == gjson.String:
			count(text.Str)
		case text.IsArray():
			text.ForEach(func(_, in gjson.Result) bool {
				switch {
				case in.Type == gjson.String:
					count(in.Str)
				case in.Type == gjson.Number:
					words++ // a token id
				case in.IsArray():
					words += int64(len(in.Array()))
				default:
					bad = invalid("input", "input must be a string or an array of strings or token arrays")
					return false
				}
				return true
			})
			if bad != nil {
				return r, bad
			}
		default:
			return r, invalid("input", "input must be a string or an array")
		}
	}
	r.PromptWords = words
	r.PromptEstimate = max(words, (textBytes+2)/3) + overhead + (extraBytes+2)/3 + images*imageTokens
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
// is always metered), and the output limit set to maxTokens (what the hold
// covers; 0 leaves the body's limit as it is) in the field the client used,
// max_tokens when it used none. The rest of the body is forwarded untouched.
// parseRequest refused bodies that name these fields twice, so each edit is
// the only copy the upstream reads.
//
// A field the body lacks (the usual case: no stream_options, no limit) is
// inserted after the opening brace, all of them in one copy into buf (a
// pooled buffer the caller returns once the body is sent; nil: a new
// slice); a field it has is edited in place with sjson, which copies the
// body once per edit.
func Rewrite(buf *bytebufferpool.ByteBuffer, body []byte, r *Request, upstreamModel string, maxTokens int64) ([]byte, error) {
	if r.Responses {
		return rewriteResponses(buf, body, r, upstreamModel, maxTokens)
	}
	var err error
	if upstreamModel != "" && upstreamModel != r.Model {
		if body, err = sjson.SetBytes(body, "model", upstreamModel); err != nil {
			return nil, err
		}
	}
	var ins [64]byte
	insert := ins[:0]
	if r.Stream && !r.IncludeUsage {
		if r.HasStreamOptions {
			if body, err = sjson.SetRawBytes(body, "stream_options.include_usage", []byte("true")); err != nil {
				return nil, err
			}
		} else {
			insert = append(insert, `"stream_options":{"include_usage":true},`...)
		}
	}
	if maxTokens > 0 && maxTokens != r.MaxTokens {
		if !r.HasMaxCompletion && !r.HasMaxTokens {
			insert = append(strconv.AppendInt(append(insert, `"max_tokens":`...), maxTokens, 10), ',')
		} else {
			v := strconv.AppendInt(nil, maxTokens, 10)
			if r.HasMaxCompletion {
				if body, err = sjson.SetRawBytes(body, "max_completion_tokens", v); err != nil {
					return nil, err
				}
			}
			if r.HasMaxTokens {
				if body, err = sjson.SetRawBytes(body, "max_tokens", v); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(insert) == 0 {
		return body, nil
	}
	// The body is a JSON object with at least a model: what follows its
	// brace is a member, so inserting "key":value, there keeps it valid.
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
