package dataplane

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/valyala/bytebufferpool"

	"github.com/wattfare/wattfare"
)

func TestParseChatRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Request
		code string
	}{
		{"OK", `{"model":"sandbox/echo","messages":[{"role":"user","content":"one two three"}]}`,
			Request{Model: "sandbox/echo", PromptWords: 3, Choices: 1}, ""},
		{"OKStream", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"max_completion_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}`,
			Request{Model: "m", Stream: true, IncludeUsage: true, MaxTokens: 9, LimitField: "max_completion_tokens",
				HasMaxTokens: true, HasMaxCompletion: true, HasStreamOptions: true, PromptWords: 2, Choices: 1}, ""},
		{"OKChoices", `{"model":"m","n":8,"messages":[]}`, Request{Model: "m", Choices: 8}, ""},
		{"ErrChoices", `{"model":"m","n":0,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		// What the proxy meters must be what the upstream reads: a field
		// named twice, in another case or with escapes is refused.
		{"ErrDuplicateMaxTokens", `{"model":"m","max_tokens":5,"max_tokens":50000,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrCaseFoldedMaxTokens", `{"model":"m","stream":true,"max_tokens":60,"MAX_TOKENS":100000,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrCaseFoldedStream", `{"model":"m","Stream":true,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrKelvinSign", "{\"model\":\"m\",\"max_to\u212aens\":9,\"messages\":[]}", Request{}, wattfare.EInvalidRequest},
		{"ErrEscapedName", `{"model":"m","max\u005ftokens":9,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrDuplicateStreamOptions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false},"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrDuplicateIncludeUsage", `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_usage":false},"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrDuplicateModel", `{"model":"sandbox/echo","model":"openai/gpt-4o","messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrDuplicateMessages", `{"model":"m","messages":[],"messages":[{"role":"user","content":"long"}]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrBadJSON", `{"model":`, Request{}, wattfare.EInvalidRequest},
		{"ErrNoModel", `{"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrStreamType", `{"model":"m","stream":"yes","messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrMaxTokens", `{"model":"m","max_tokens":-1,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrMaxTokensFloat", `{"model":"m","max_tokens":1.5,"messages":[]}`, Request{}, wattfare.EInvalidRequest},
		{"ErrMessages", `{"model":"m","messages":{}}`, Request{}, wattfare.EInvalidRequest},
		{"ErrArray", `[1]`, Request{}, wattfare.EInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseChatRequest([]byte(tt.body))
			if code := wattfare.ErrorCode(err); code != tt.code {
				t.Fatalf("code %q, want %q (%v)", code, tt.code, err)
			}
			if tt.code != "" {
				return
			}
			if tt.want.PromptEstimate == 0 {
				tt.want.PromptEstimate = got.PromptEstimate
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.PromptEstimate < got.PromptWords {
				t.Errorf("estimate %d below words %d", got.PromptEstimate, got.PromptWords)
			}
		})
	}
}

// TestPromptEstimate: every billed prompt byte raises the hold's estimate:
// tool definitions, response formats, images and system prompts.
func TestPromptEstimate(t *testing.T) {
	t.Parallel()
	base, _ := ParseChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	tools := `,"tools":[` + strings.Repeat(`{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}},`, 39) +
		`{"type":"function","function":{"name":"g"}}]`
	for _, tt := range []struct{ name, extra string }{
		{"Tools", tools},
		{"ResponseFormat", `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"answer":{"type":"string","description":"` + strings.Repeat("long ", 200) + `"}}}}}`},
		{"Image", `,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`},
		{"System", `,"messages":[{"role":"system","content":"` + strings.Repeat("be terse ", 300) + `"},{"role":"user","content":"hi"}]`},
	} {
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}]` + tt.extra + `}`
		if tt.name == "Image" || tt.name == "System" {
			body = `{"model":"m"` + tt.extra + `}`
		}
		r, err := ParseChatRequest([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.PromptEstimate < base.PromptEstimate+int64(len(tt.extra))/4 && tt.name != "Image" || tt.name == "Image" && r.PromptEstimate < imageTokens {
			t.Errorf("%s: estimate %d, base %d, %d bytes more", tt.name, r.PromptEstimate, base.PromptEstimate, len(tt.extra))
		}
	}
}

func TestRewrite(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		r, _ := ParseChatRequest(body)
		out, err := Rewrite(nil, body, &r, "b", 12)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"stream_options":{"include_usage":true},"max_tokens":12,"model":"b","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		if string(out) != want {
			t.Errorf("got  %s\nwant %s", out, want)
		}
	})
	t.Run("StreamOptionsPresent", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[]}`)
		r, _ := ParseChatRequest(body)
		out, _ := Rewrite(nil, body, &r, "m", 0)
		if !gjson.GetBytes(out, "stream_options.include_usage").Bool() {
			t.Errorf("got %s", out)
		}
	})
	t.Run("StreamOptionsNull", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m","stream":true,"stream_options":null,"messages":[]}`)
		r, _ := ParseChatRequest(body)
		out, err := Rewrite(nil, body, &r, "m", 0)
		if err != nil || !gjson.GetBytes(out, "stream_options.include_usage").Bool() || !gjson.ValidBytes(out) {
			t.Errorf("got %s, %v", out, err)
		}
	})
	t.Run("InsertedIntoTheBuffer", func(t *testing.T) {
		t.Parallel()
		var buf bytebufferpool.ByteBuffer
		buf.B = append(buf.B, "stale bytes from the last request"...)
		body := []byte(" \n\t{ \"model\" : \"m\", \"stream\":true, \"messages\":[]}")
		r, _ := ParseChatRequest(body)
		out, err := Rewrite(&buf, body, &r, "m", 9)
		want := " \n\t{\"stream_options\":{\"include_usage\":true},\"max_tokens\":9, \"model\" : \"m\", \"stream\":true, \"messages\":[]}"
		if err != nil || string(out) != want || string(buf.B) != want {
			t.Errorf("got %q (buffer %q), %v\nwant %q", out, buf.B, err, want)
		}
	})
	t.Run("LimitInTheClientsField", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m","max_completion_tokens":100000,"messages":[]}`)
		r, _ := ParseChatRequest(body)
		out, _ := Rewrite(nil, body, &r, "m", 4096)
		if got := gjson.GetBytes(out, "max_completion_tokens").Int(); got != 4096 || gjson.GetBytes(out, "max_tokens").Exists() {
			t.Errorf("got %s", out)
		}
	})
	t.Run("Untouched", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m", "messages":[ ]}`)
		r, _ := ParseChatRequest(body)
		out, _ := Rewrite(nil, body, &r, "m", 0)
		if string(out) != string(body) {
			t.Errorf("got %s", out)
		}
	})
}

// FuzzParseRequest checks that the parser never panics, that what it accepts
// is valid JSON, and that every rewrite of an accepted body is valid JSON
// with the fields the upstream must see.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"model":"sandbox/echo","stream":true,"messages":[{"role":"user","content":"hi there"}]}`))
	f.Add([]byte(`{"model":"m","stream_options":null,"max_tokens":3,"messages":[{"content":[{"text":"x"}]}]}`))
	f.Add([]byte(`{"model":"m","input":["a",[1,2],3]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (Request, error){ParseChatRequest, ParseEmbeddingsRequest} {
			r, err := parse(body)
			if err != nil {
				if wattfare.ErrorCode(err) != wattfare.EInvalidRequest {
					t.Fatalf("error code %q", wattfare.ErrorCode(err))
				}
				continue
			}
			if !gjson.ValidBytes(body) || r.Model == "" || r.PromptEstimate < r.PromptWords {
				t.Fatalf("accepted %q as %+v", body, r)
			}
			if !r.Stream {
				continue
			}
			out, err := Rewrite(nil, append([]byte(nil), body...), &r, "up", 7)
			if err != nil {
				continue
			}
			if !gjson.ValidBytes(out) || gjson.GetBytes(out, "model").Str != "up" ||
				!gjson.GetBytes(out, "stream_options.include_usage").Bool() || gjson.GetBytes(out, "max_tokens").Int() != 7 {
				t.Fatalf("rewrite of %q gave %q", body, out)
			}
			if again, err := parse(out); err != nil || again.MaxTokens != 7 || !again.IncludeUsage {
				t.Fatalf("rewrite of %q gave %q, which reads as %+v, %v", body, out, again, err)
			}
		}
	})
}
