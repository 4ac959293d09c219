package dataplane

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// The metering issue let us either refuse bodies that name a metered field
// twice or in another case (what parseRequest does) or rebuild every body
// from what was parsed, each field once. BenchmarkRequestGuard measures
// both on the hot path's work: parse, then produce the bytes to send.
//
//	go test -run XXX -bench RequestGuard -benchmem ./dataplane/

// rebuildBody is the alternative: the body re-written member by member,
// keeping for each metered field only its last occurrence under any case
// (what most parsers read) under its lower-case name, and every other
// member as it came.
func rebuildBody(dst, body []byte) []byte {
	type member struct{ key, raw string }
	var members [32]member
	ms := members[:0]
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		name := k.Str
		for _, f := range meteredFields {
			if strings.EqualFold(name, f) {
				name = f
				for i := range ms {
					if ms[i].key == f {
						ms = append(ms[:i], ms[i+1:]...)
						break
					}
				}
				break
			}
		}
		ms = append(ms, member{name, v.Raw})
		return true
	})
	dst = append(dst[:0], '{')
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(append(dst, '"'), m.key...), `":`...), m.raw...)
	}
	return append(dst, '}')
}

func BenchmarkRequestGuard(b *testing.B) {
	var msgs strings.Builder
	for i := range 200 {
		fmt.Fprintf(&msgs, `,{"role":"user","content":"message %d: %s"}`, i, strings.Repeat("lorem ipsum ", 40))
	}
	bodies := map[string][]byte{
		"Small": []byte(`{"model":"sandbox/echo","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the bench in a few words."}]}`),
		"100KB": []byte(`{"model":"sandbox/echo","stream":true,"messages":[{"role":"system","content":"You are terse."}` + msgs.String() + `]}`),
	}
	for _, size := range []string{"Small", "100KB"} {
		body := bodies[size]
		b.Run("Refuse/"+size, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var out []byte
			for b.Loop() {
				r, err := ParseChatRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				if out, err = Rewrite(nil, body, &r, "", 256); err != nil {
					b.Fatal(err)
				}
			}
			_ = out
		})
		b.Run("Rebuild/"+size, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var buf []byte
			for b.Loop() {
				buf = rebuildBody(buf, body)
				r, err := ParseChatRequest(buf)
				if err != nil {
					b.Fatal(err)
				}
				if _, err = Rewrite(nil, buf, &r, "", 256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRebuildBodyKeepsTheLastOccurrence pins the alternative measured above
// to what it claims, so that the benchmark compares like with like.
func TestRebuildBodyKeepsTheLastOccurrence(t *testing.T) {
	got := rebuildBody(nil, []byte(`{"model":"a","MAX_TOKENS":5,"x":[1],"max_tokens":7,"Model":"b"}`))
	if want := []byte(`{"x":[1],"max_tokens":7,"model":"b"}`); !bytes.Equal(got, want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}
