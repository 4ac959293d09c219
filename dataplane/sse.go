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

// streamUsage is what a stream reported or what was counted of it.
type streamUsage struct {
	Chunks           int64 // content-bearing choice deltas seen: the fallback count of completion tokens
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

// eventData returns the payload of an event's first data line, without the
// field name and one leading space, or nil for comments and events without data.
func eventData(ev []byte) []byte {
	for len(ev) > 0 {
		n := lineEnd(ev)
		line := ev[:n]
		if bytes.HasPrefix(line, dataPrefix) {
			line = line[len(dataPrefix):]
			if len(line) > 0 && line[0] == ' ' {
				line = line[1:]
			}
			return line
		}
		if n == len(ev) {
			break
		}
		ev = ev[n+1:]
	}
	return nil
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
// Chat chunks from OpenAI-compatible servers are compact JSON, so the usual
// event is read in one pass over its quotes, matching the keys that follow
// them (a quote inside a JSON string is escaped, so a key cannot match
// inside a value); events with an error, with usage, or in another layout
// take the full parse.
func meterEvent(ev []byte, u *streamUsage) eventKind {
	data := eventData(ev)
	if len(data) == 0 {
		return eventPass
	}
	if data[0] != '{' {
		if bytes.Equal(bytes.TrimSpace(data), doneData) {
			return eventDone
		}
		return eventPass
	}
	var chunks int64
	finished := false
	id := ""
	for rest := data; ; {
		i := bytes.IndexByte(rest, '"')
		if i < 0 || i+1 >= len(rest) {
			break
		}
		rest = rest[i+1:]
		switch rest[0] {
		case 'c':
			if hasKey(rest, "content", '"') {
				if v := rest[len("content")+3:]; len(v) > 0 && v[0] != '"' {
					chunks++
				}
			} else if bytes.HasPrefix(rest, []byte(`choices"`)) && !bytes.HasPrefix(rest, []byte(`choices":`)) {
				return meterEventSlow(data, u)
			}
		case 'r':
			if hasKey(rest, "reasoning", '"') || hasKey(rest, "reasoning_content", '"') {
				if v := rest[bytes.IndexByte(rest, ':')+2:]; len(v) > 0 && v[0] != '"' {
					chunks++
				}
			}
		case 't':
			if hasKey(rest, "tool_calls", '[') {
				chunks++
			}
		case 'f':
			if hasKey(rest, "finish_reason", '"') {
				finished = true
			}
		case 'e':
			if bytes.HasPrefix(rest, []byte(`error"`)) {
				return meterEventSlow(data, u)
			}
		case 'u':
			if hasKey(rest, "usage", '{') {
				return meterEventSlow(data, u)
			}
		case 'i':
			if id == "" && u.UpstreamID == "" && hasKey(rest, "id", '"') {
				v := rest[len("id")+3:]
				if j := bytes.IndexByte(v, '"'); j > 0 {
					id = string(v[:j])
				}
			}
		}
	}
	u.Chunks += chunks
	u.Finished = u.Finished || finished
	if id != "" {
		u.UpstreamID = id
	}
	return eventPass
}

// hasKey reports whether b starts with name, a closing quote, a colon and
// the byte open (what begins the value).
func hasKey(b []byte, name string, open byte) bool {
	n := len(name)
	return len(b) > n+2 && b[n] == '"' && b[n+1] == ':' && b[n+2] == open && string(b[:n]) == name
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
			d := c.Get("delta")
			if nonEmpty(d.Get("content")) || nonEmpty(d.Get("reasoning")) || nonEmpty(d.Get("reasoning_content")) || d.Get("tool_calls").IsArray() {
				u.Chunks++
			}
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

func nonEmpty(r gjson.Result) bool { return r.Type == gjson.String && r.Str != "" }

// readUsage reads an OpenAI usage object (with OpenRouter's cost and token
// details when present).
func readUsage(usage gjson.Result, u *streamUsage) {
	u.HaveUsage = true
	usage.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "prompt_tokens":
			u.PromptTokens = v.Int()
		case "completion_tokens":
			u.CompletionTokens = v.Int()
		case "prompt_tokens_details":
			u.CachedTokens = v.Get("cached_tokens").Int()
		case "completion_tokens_details":
			u.ReasoningTokens = v.Get("reasoning_tokens").Int()
		case "cost":
			if v.Type == gjson.Number {
				if m, ok := parseUSD(v.Raw); ok {
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
