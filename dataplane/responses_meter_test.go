package dataplane

import (
	"testing"

	"github.com/wattfare/wattfare"
)

// The Responses API's events, as OpenAI and OpenRouter send them: deltas
// are counted, response.completed and response.incomplete carry the usage
// and end the stream, response.failed and error end it as the upstream's
// error, everything else passes.
func TestMeterResponsesEvent(t *testing.T) {
	ev := func(typ, data string) []byte { return []byte("event: " + typ + "\ndata: " + data + "\n\n") }
	var u streamUsage
	steps := []struct {
		ev   []byte
		want eventKind
	}{
		{[]byte(": OPENROUTER PROCESSING\n\n"), eventPass},
		{ev("response.created", `{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","usage":null}}`), eventPass},
		{ev("response.output_text.delta", `{"type":"response.output_text.delta","item_id":"msg_1","delta":"Hello there"}`), eventPass},
		{ev("response.function_call_arguments.delta", `{"type":"response.function_call_arguments.delta","delta":"{\"city\":"}`), eventPass},
		{ev("response.output_text.done", `{"type":"response.output_text.done","text":"Hello there friend"}`), eventPass},
		{ev("response.completed", `{"type":"response.completed","response":{"id":"resp_1","status":"completed",`+
			`"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":9},"total_tokens":42,"cost":0.0000123}}}`), eventDone},
	}
	for i, s := range steps {
		if got := meterResponsesEvent(s.ev, &u); got != s.want {
			t.Fatalf("event %d: kind %d, want %d", i, got, s.want)
		}
	}
	if u.UpstreamID != "resp_1" || !u.HaveUsage || !u.Finished || u.PromptTokens != 12 || u.CompletionTokens != 30 ||
		u.CachedTokens != 4 || u.ReasoningTokens != 9 || !u.HaveCost || u.Cost != 12300 {
		t.Fatalf("usage %+v", u)
	}
	// A token per three bytes bounds each delta: "Hello there" (11 bytes)
	// 4, `{"city":` (8 bytes) 3; the done event's text is not counted again.
	if u.Counted != 4+3 {
		t.Fatalf("counted %d", u.Counted)
	}

	t.Run("Failed", func(t *testing.T) {
		var u streamUsage
		if k := meterResponsesEvent(ev("response.failed", `{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"},"usage":{"input_tokens":3,"output_tokens":2}}}`), &u); k != eventError {
			t.Fatalf("kind %d", k)
		}
		if u.CompletionTokens != 2 {
			t.Fatalf("usage of a failed response %+v", u)
		}
		if k := meterResponsesEvent(ev("error", `{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":3}`), &u); k != eventError {
			t.Fatalf("error event: kind %d", k)
		}
	})

	t.Run("IncompleteWithoutUsage", func(t *testing.T) {
		// No usage: what the output holds is counted, never less than the deltas.
		var u streamUsage
		meterResponsesEvent(ev("response.output_text.delta", `{"type":"response.output_text.delta","delta":"one two"}`), &u)
		k := meterResponsesEvent(ev("response.incomplete", `{"type":"response.incomplete","response":{"id":"r","status":"incomplete",`+
			`"output":[{"type":"message","content":[{"type":"output_text","text":"one two three four"}]}]}}`), &u)
		// "one two three four" is 18 bytes: 6 tokens at most, over the deltas' 3.
		if k != eventDone || u.HaveUsage || u.Counted != 6 || !u.Finished {
			t.Fatalf("kind %d usage %+v", k, u)
		}
	})
}

// A whole Responses answer is metered from its usage, and its cost read
// exactly; one without usage is counted from its output items.
func TestMeterResponseWhole(t *testing.T) {
	c := &call{endpoint: "responses"}
	var u streamUsage
	c.meterWhole([]byte(`{"id":"resp_9","object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],`+
		`"usage":{"input_tokens":5,"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"cost":0.00042}}`), &u)
	if u.UpstreamID != "resp_9" || u.PromptTokens != 5 || u.CompletionTokens != 1 || u.Cost != wattfare.Money(420_000) {
		t.Fatalf("%+v", u)
	}
	var n streamUsage
	c.meterWhole([]byte(`{"id":"r","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"thinking hard"}]},
		{"type":"function_call","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}]}`), &n)
	if n.HaveUsage || n.Counted < 2+1+5 {
		t.Fatalf("counted %+v", n)
	}
}
