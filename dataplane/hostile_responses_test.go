package dataplane_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/internal/fakeupstream"
)

// deliveredResponseTokens counts the completion tokens a client received
// from the Responses API: in a whole answer's output, or in a stream's
// deltas (its final response repeats the text, which is not counted again).
func deliveredResponseTokens(b []byte) int {
	var whole struct {
		Output []struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"output"`
	}
	n := 0
	if json.Unmarshal(b, &whole) == nil {
		for _, o := range whole.Output {
			for _, c := range o.Content {
				n += fakeupstream.CountTokens(c.Text)
			}
		}
	}
	streamed := 0
	for _, d := range sseData(b) {
		var ev struct {
			Type  string `json:"type"`
			Delta string `json:"delta"`
		}
		if json.Unmarshal(d, &ev) == nil && strings.HasSuffix(ev.Type, ".delta") {
			streamed += fakeupstream.CountTokens(ev.Delta)
		}
	}
	return max(n, streamed)
}

func responsesBody(extra string) func(string) string {
	return func(model string) string {
		return `{"model":"` + model + `","instructions":"You are a helpful assistant.",` +
			`"input":[{"role":"user","content":[{"type":"input_text","text":"Write a long story about a lighthouse keeper and the storm of 1953."}]}]` + extra + `}`
	}
}

// TestHostileResponsesMetering is the hostile matrix of TestHostileMetering for
// the Responses API: for every reply delivered, what the client received
// costs at most what was charged plus one token, and no cap is passed,
// across hostile bodies and imperfect upstreams.
func TestHostileResponsesMetering(t *testing.T) {
	t.Parallel()
	h := setupHostile(t)
	usd := wattfare.USD
	type B = fakeupstream.Behaviour
	const stream = `,"stream":true`
	rows := []hostileRow{
		// No limit on an expensive model: a 30,000-token reply ($18) on a $10 cap.
		{name: "RespNoLimit30kStream", class: expensive, cap: usd(10), fake: B{Tokens: 30000}, body: responsesBody(stream)},
		{name: "RespNoLimit30kWhole", class: expensive, cap: usd(10), fake: B{Tokens: 30000}, body: responsesBody("")},
		{name: "RespNoLimit30kHonouredStream", class: expensive, cap: usd(10), fake: B{Tokens: 30000, HonourMaxTokens: true}, body: responsesBody(stream)},
		// Keys a case-folding upstream reads as the limit, or as stream.
		{name: "RespCaseFoldedLimit", class: expensive, cap: usd(10), fake: B{Tokens: 20000, HonourMaxTokens: true},
			body: responsesBody(`,"max_output_tokens":60,"MAX_OUTPUT_TOKENS":100000`), may400: []string{"max_output_tokens"}},
		{name: "RespCaseFoldedStream", class: expensive, cap: usd(10), fake: B{Tokens: 20000, HonourMaxTokens: true},
			body: responsesBody(`,"Stream":true,"max_output_tokens":60`), may400: []string{"stream"}},
		{name: "RespDupLimitLastLarger", class: expensive, cap: usd(3), fake: B{Tokens: 10000, HonourMaxTokens: true},
			body: responsesBody(`,"max_output_tokens":50,"max_output_tokens":20000`), may400: []string{"max_output_tokens"}},
		// A limit the upstream ignores.
		{name: "RespLimitIgnoredStream", class: expensive, cap: usd(1), fake: B{Tokens: 5000}, body: responsesBody(`,"max_output_tokens":100` + stream)},
		// Upstreams that do not report usage, or report it oddly.
		{name: "RespNoUsageStream", class: standard, cap: usd(10), fake: B{Tokens: 300, TokensPerDelta: 3, Usage: fakeupstream.UsageNever}, body: responsesBody(stream)},
		{name: "RespNoUsageWhole", class: standard, cap: usd(10), fake: B{Tokens: 300, Usage: fakeupstream.UsageNever}, body: responsesBody("")},
		{name: "RespHiddenReasoningStream", class: standard, cap: usd(10), fake: B{Tokens: 100, HiddenReasoning: 2000}, body: responsesBody(stream)},
		{name: "RespUsageRepeatedSplit", class: standard, cap: usd(10), fake: B{Tokens: 300, UsageRepeat: 2, UsageSplit: true}, body: responsesBody(stream)},
		// Wire layouts.
		{name: "RespSpacedStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Spaced}, body: responsesBody(stream), must: 200},
		{name: "RespIndentedStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Style: fakeupstream.Indented}, body: responsesBody(stream)},
		{name: "RespCRLFCommentsNoSpace", class: standard, cap: usd(10), fake: B{Tokens: 300, CRLF: true, Comments: true, NoSpace: true}, body: responsesBody(stream)},
		{name: "RespGzipStream", class: standard, cap: usd(10), fake: B{Tokens: 300, Gzip: true}, body: responsesBody(stream)},
		// 40 tools: about 4,200 prompt tokens ($0.63) on a $0.30 cap.
		{name: "RespTools40", class: expensive, cap: wattfare.Cent * 30, fake: B{Tokens: 50, HonourMaxTokens: true},
			body: responsesBody(`,` + toolDefs(40) + `,"max_output_tokens":50`)},
	}
	conns := map[string]string{}
	for i := range rows {
		rows[i].responses = true
		r := rows[i]
		h.fake.Set(r.name, r.fake)
		h.addModel("fake/"+strings.ToLower(r.name), r.name, r.class)
		conns[r.name] = h.addPayer(r.name, r.cap)
	}
	h.addPayer("sentinel", wattfare.USD(100)) // the barrier's payer
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { h.runRow(t, r, conns[r.name]) })
	}
}
