package dataplane

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/wattfare/wattfare"
)

// nextEvent returns the length of the first complete server-sent event in b,
// its terminating blank line included, or 0 when b holds no complete event
// yet. Lines end in "\n", "\r\n" or "\r" (the SSE spec allows all three); a
// trailing "\r" is incomplete because a "\n" may follow in the next read.
func nextEvent(b []byte) int {
	// The usual event ends in "\n\n" and has no '\r': find it with the
	// vectorized searches, and take the byte-wise walk only otherwise.
	if len(b) > 0 && b[0] == '\n' {
		return 1
	}
	if i := bytes.Index(b, blankLine); i >= 0 {
		if bytes.IndexByte(b[:i], '\r') < 0 {
			return i + 2
		}
	} else if bytes.IndexByte(b, '\r') < 0 {
		return 0
	}
	return nextEventSlow(b)
}

var blankLine = []byte("\n\n")

// nextEventSlow is nextEvent for events with '\r' line ends.
func nextEventSlow(b []byte) int {
	lineStart := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\n' && c != '\r' {
			continue
		}
		end := i + 1
		if c == '\r' {
			if i+1 == len(b) {
				return 0
			}
			if b[i+1] == '\n' {
				end++
			}
		}
		if i == lineStart {
			return end
		}
		lineStart = end
		i = end - 1
	}
	return 0
}

// eventKind is what the proxy does with an upstream event.
type eventKind uint8

const (
	eventPass      eventKind = iota // forward as is
	eventUsageOnly                  // the extra usage chunk: withheld unless the client asked
	eventDone                       // data: [DONE]: settle first, then forward
	eventError                      // the upstream's mid-stream error event: forward, then end
)

// streamUsage is what a stream (or a whole answer) reported, or what was
// counted of it.
type streamUsage struct {
	// Counted bounds from above the output tokens seen: for each content,
	// reasoning, refusal or tool-call string, its words or a token per three
	// bytes, whichever is more, and at least one. It is what is charged when
	// the upstream gives no usage.
	Counted          int64
	HaveUsage        bool
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	ReasoningTokens  int64
	Cost             wattfare.Money // the upstream's own cost (OpenRouter's usage.cost), if it gave one
	HaveCost         bool
	UpstreamID       string
	Finished         bool // a finish_reason was seen
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
)

// eventData returns an event's data: its data lines' values (without the
// field name and one leading space) joined by newlines, as the SSE spec has
// it, or nil for comments and events without data. The usual event has one
// data line, returned in place; one split over several lines (pretty-printed
// JSON) is joined into a new slice.
func eventData(ev []byte) []byte {
	var first, joined []byte
	lines := 0
	for len(ev) > 0 {
		n := lineEnd(ev)
		line := ev[:n]
		if bytes.HasPrefix(line, dataPrefix) {
			line = line[len(dataPrefix):]
			if len(line) > 0 && line[0] == ' ' {
				line = line[1:]
			}
			switch lines++; lines {
			case 1:
				first = line
			case 2:
				joined = append(append(append(make([]byte, 0, 2*(len(first)+len(line))), first...), '\n'), line...)
			default:
				joined = append(append(joined, '\n'), line...)
			}
		}
		if n == len(ev) {
			break
		}
		if ev[n] == '\r' && n+1 < len(ev) && ev[n+1] == '\n' {
			n++
		}
		ev = ev[n+1:]
	}
	if lines > 1 {
		return joined
	}
	return first
}

// lineEnd returns the index of the first '\r' or '\n' in b, or len(b).
func lineEnd(b []byte) int {
	n := bytes.IndexByte(b, '\n')
	if n < 0 {
		n = len(b)
	}
	if r := bytes.IndexByte(b[:n], '\r'); r >= 0 {
		return r
	}
	return n
}

// meterEvent classifies one complete event and adds what it says about usage
// to u. It never fails: what it cannot read it passes through uncounted.
//
// The usual chat chunk is read in one pass over its quotes, matching the
// keys that follow them (a quote inside a JSON string is escaped, so a key
// cannot match inside a value), with any whitespace around the colon. An
// event in which that pass finds none of the keys it knows, and events with
// an error or usage, take the full parse: metering works on any valid JSON.
func meterEvent(ev []byte, u *streamUsage) eventKind {
	data := eventData(ev)
	if len(data) == 0 {
		return eventPass
	}
	if data[0] != '{' {
		if bytes.Equal(bytes.TrimSpace(data), doneData) {
			return eventDone
		}
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			return meterEventSlow(data, u)
		}
		return eventPass
	}
	var counted int64
	finished, known := false, false
	id := ""
	for rest := data; ; {
		i := bytes.IndexByte(rest, '"')
		if i < 0 || i+1 >= len(rest) {
			break
		}
		rest = rest[i+1:]
		var v []byte
		switch rest[0] {
		case 'c':
			if v = valueOf(rest, "content"); v != nil {
				known = true
				counted += countString(v)
			} else if v = valueOf(rest, "choices"); v != nil {
				known = true
				if v[0] != '[' {
					return meterEventSlow(data, u)
				}
			}
		case 'r':
			if v = valueOf(rest, "reasoning"); v != nil {
				counted += countString(v)
			} else if v = valueOf(rest, "reasoning_content"); v != nil {
				counted += countString(v)
			} else if v = valueOf(rest, "refusal"); v != nil {
				counted += countString(v)
			}
		case 'a':
			if v = valueOf(rest, "arguments"); v != nil {
				counted += countString(v)
			}
		case 't':
			if v = valueOf(rest, "tool_calls"); v != nil {
				known = true
			}
		case 'n':
			if v = valueOf(rest, "name"); v != nil {
				counted += countString(v)
			}
		case 'f':
			if v = valueOf(rest, "finish_reason"); v != nil && v[0] == '"' {
				finished = true
			}
		case 'e':
			if valueOf(rest, "error") != nil {
				return meterEventSlow(data, u)
			}
		case 'u':
			if v = valueOf(rest, "usage"); v != nil && v[0] == '{' {
				return meterEventSlow(data, u)
			}
		case 'i':
			if id == "" && u.UpstreamID == "" {
				if v = valueOf(rest, "id"); v != nil && v[0] == '"' {
					if j := bytes.IndexByte(v[1:], '"'); j > 0 {
						id = string(v[1 : j+1])
					}
				}
			}
		}
	}
	if !known {
		return meterEventSlow(data, u)
	}
	u.Counted += counted
	u.Finished = u.Finished || finished
	if id != "" {
		u.UpstreamID = id
	}
	return eventPass
}

// valueOf returns the value after the key name when b starts with name,
// its closing quote, optional whitespace, a colon and optional whitespace;
// nil otherwise or when nothing follows.
func valueOf(b []byte, name string) []byte {
	n := len(name)
	if len(b) <= n || b[n] != '"' || string(b[:n]) != name {
		return nil
	}
	b = skipSpace(b[n+1:])
	if len(b) == 0 || b[0] != ':' {
		return nil
	}
	b = skipSpace(b[1:])
	if len(b) == 0 {
		return nil
	}
	return b
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// countString bounds the tokens of the JSON string that v starts with (0
// when v is not a string): its words or a token per three bytes, whichever
// is more, and one for any non-empty string. Escapes count as the bytes
// they take, which only raises the bound.
func countString(v []byte) int64 {
	if len(v) < 2 || v[0] != '"' {
		return 0
	}
	end := 1
	for end < len(v) && v[end] != '"' {
		if v[end] == '\\' {
			end++
		}
		end++
	}
	return countText(b2s(v[1:min(end, len(v))]))
}

// countText bounds the tokens of a text: its words or a token per three
// bytes, whichever is more, and one for any non-empty text.
func countText(s string) int64 {
	if s == "" {
		return 0
	}
	return max(1, countWords(s), (int64(len(s))+2)/3)
}

// countOutput bounds the output tokens of a message or delta object.
func countOutput(m gjson.Result) int64 {
	var n int64
	m.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "content", "reasoning", "reasoning_content", "refusal":
			if v.Type == gjson.String {
				n += countText(v.Str)
			} else if v.IsArray() {
				v.ForEach(func(_, part gjson.Result) bool {
					n += countText(part.Get("text").Str)
					return true
				})
			}
		case "tool_calls":
			v.ForEach(func(_, tc gjson.Result) bool {
				n += countText(tc.Get("function.name").Str) + countText(tc.Get("function.arguments").Str)
				return true
			})
		case "function_call":
			n += countText(v.Get("name").Str) + countText(v.Get("arguments").Str)
		}
		return true
	})
	return n
}

// meterEventSlow reads an event with a full JSON scan.
func meterEventSlow(data []byte, u *streamUsage) eventKind {
	kind := eventPass
	var choices, usage, errv gjson.Result
	gjson.Parse(b2s(data)).ForEach(func(key, value gjson.Result) bool { // results view data: keep only clones
		switch key.Str {
		case "choices":
			choices = value
		case "usage":
			usage = value
		case "error":
			errv = value
		case "id":
			if u.UpstreamID == "" && value.Type == gjson.String {
				u.UpstreamID = strings.Clone(value.Str)
			}
		}
		return true
	})
	if choices.IsArray() {
		n := 0
		choices.ForEach(func(_, c gjson.Result) bool {
			n++
			u.Counted += countOutput(c.Get("delta"))
			if f := c.Get("finish_reason"); f.Type == gjson.String {
				u.Finished = true
			}
			return true
		})
		if n == 0 && usage.IsObject() {
			kind = eventUsageOnly
		}
	}
	if usage.IsObject() {
		readUsage(usage, u)
	}
	if errv.Exists() && errv.Type != gjson.Null {
		kind = eventError
	}
	return kind
}

// readUsage reads an OpenAI usage object (with OpenRouter's cost and token
// details when present). Usage is cumulative: a stream that sends it more
// than once (a usage chunk repeated, or usage on every chunk) is charged
// the largest figure of each, never a smaller later one.
func readUsage(usage gjson.Result, u *streamUsage) {
	u.HaveUsage = true
	usage.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "prompt_tokens":
			u.PromptTokens = max(u.PromptTokens, v.Int())
		case "completion_tokens":
			u.CompletionTokens = max(u.CompletionTokens, v.Int())
		case "prompt_tokens_details":
			u.CachedTokens = max(u.CachedTokens, v.Get("cached_tokens").Int())
		case "completion_tokens_details":
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

// parseUSD reads a JSON number of dollars as Money, exactly when it is a
// plain decimal and rounded up to the nano-dollar otherwise (1.5e-05).
func parseUSD(raw string) (wattfare.Money, bool) {
	if m, err := wattfare.ParseMoney(raw); err == nil {
		return m, m >= 0
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > float64(wattfare.MaxMoney)/1e9 {
		return 0, false
	}
	return wattfare.Money(math.Ceil(f * 1e9)), true
}
