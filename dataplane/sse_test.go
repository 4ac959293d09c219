package dataplane

import (
	"bytes"
	"testing"

	"github.com/wattfare/wattfare"
)

const sampleStream = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
	": OPENROUTER PROCESSING\n\n" +
	"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},\"finish_reason\":null}]}\r\n\r\n" +
	"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n" +
	"data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9,\"cost\":0.0000123,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n" +
	"data: [DONE]\n\n"

// scanAll feeds stream in pieces of the given sizes and returns the events
// and kinds found, and whatever was left unframed.
func scanAll(stream []byte, sizes []int) (events [][]byte, kinds []eventKind, u streamUsage, rest []byte) {
	var buf []byte
	for len(stream) > 0 {
		n := len(stream)
		if len(sizes) > 0 {
			n = min(max(sizes[0], 1), n)
			sizes = sizes[1:]
		}
		buf = append(buf, stream[:n]...)
		stream = stream[n:]
		for {
			k := nextEvent(buf)
			if k == 0 {
				break
			}
			ev := append([]byte(nil), buf[:k]...)
			events = append(events, ev)
			kinds = append(kinds, meterEvent(ev, &u))
			buf = buf[k:]
		}
	}
	return events, kinds, u, buf
}

func TestMeterEvent(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		events, kinds, u, rest := scanAll([]byte(sampleStream), []int{1, 3, 7, 2, 50, 1, 1, 1})
		if len(events) != 6 || len(rest) != 0 {
			t.Fatalf("%d events, rest %q", len(events), rest)
		}
		want := []eventKind{eventPass, eventPass, eventPass, eventPass, eventUsageOnly, eventDone}
		for i := range want {
			if kinds[i] != want[i] {
				t.Errorf("event %d kind %d, want %d", i, kinds[i], want[i])
			}
		}
		if u.Counted != 4 /* "hello", " world": 2 tokens each at 3 bytes a token */ || !u.HaveUsage || u.PromptTokens != 7 || u.CompletionTokens != 2 || u.CachedTokens != 3 || !u.Finished {
			t.Errorf("usage %+v", u)
		}
		if !u.HaveCost || u.Cost != 12300 {
			t.Errorf("cost %v", u.Cost)
		}
		if u.UpstreamID != "c1" {
			t.Errorf("id %q", u.UpstreamID)
		}
	})
	t.Run("ErrorEvent", func(t *testing.T) {
		t.Parallel()
		var u streamUsage
		k := meterEvent([]byte("data: {\"id\":\"x\",\"error\":{\"code\":502,\"message\":\"boom\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n"), &u)
		if k != eventError {
			t.Errorf("kind %d", k)
		}
	})
	t.Run("CarriageReturnAtEnd", func(t *testing.T) {
		t.Parallel()
		if n := nextEvent([]byte("data: x\r\n\r")); n != 0 {
			t.Errorf("complete at %d before the final \\n", n)
		}
		if n := nextEvent([]byte("data: x\r\r")); n != 0 {
			t.Errorf("complete at %d", n)
		}
		if n := nextEvent([]byte("data: x\r\rdata")); n != 9 {
			t.Errorf("complete at %d, want 9", n)
		}
	})
}

func TestParseUSD(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]wattfare.Money{"0.0000123": 12300, "1.5e-05": 15000, "0": 0, "2": 2 * wattfare.Dollar, "0.0000000001": 1} {
		if got, ok := parseUSD(raw); !ok || got != want {
			t.Errorf("parseUSD(%s) = %v %v, want %v", raw, got, ok, want)
		}
	}
	if _, ok := parseUSD("-1"); ok {
		t.Error("negative cost accepted")
	}
}

// FuzzSSE checks that however an upstream's bytes are split into reads, the
// scanner frames the same events, their concatenation is the input byte for
// byte (nothing is lost or re-encoded), and metering agrees.
func FuzzSSE(f *testing.F) {
	f.Add([]byte(sampleStream), []byte{1, 2, 3})
	f.Add([]byte("data: [DONE]\r\r"), []byte{1})
	f.Add([]byte("data: {\"usage\":{\"cost\":1e309}}\n\n"), []byte{4})
	f.Add([]byte(":\n\ndata:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"), []byte{})
	f.Fuzz(func(t *testing.T, stream []byte, split []byte) {
		sizes := make([]int, len(split))
		for i, s := range split {
			sizes[i] = int(s)
		}
		events, kinds, u, rest := scanAll(stream, sizes)
		whole, wholeKinds, wu, wrest := scanAll(stream, nil)
		var joined []byte
		for _, e := range events {
			joined = append(joined, e...)
		}
		joined = append(joined, rest...)
		if !bytes.Equal(joined, stream) {
			t.Fatalf("events do not add up to the input")
		}
		if len(events) != len(whole) || !bytes.Equal(rest, wrest) || u != wu {
			t.Fatalf("split reads framed differently: %d vs %d events", len(events), len(whole))
		}
		for i := range kinds {
			if kinds[i] != wholeKinds[i] {
				t.Fatalf("event %d kind differs", i)
			}
		}
		if u.Counted < 0 || u.Cost < 0 {
			t.Fatalf("negative usage %+v", u)
		}
	})
}
