package dataplane

import (
	"testing"

	"github.com/tidwall/gjson"

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
			Request{Model: "sandbox/echo", PromptWords: 3}, ""},
		{"OKStream", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"max_completion_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}`,
			Request{Model: "m", Stream: true, IncludeUsage: true, MaxTokens: 9, PromptWords: 2}, ""},
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

func TestRewrite(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"a/b","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		r, _ := ParseChatRequest(body)
		out, err := Rewrite(body, &r, "b", 12)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"model":"b","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true},"max_tokens":12}`
		if string(out) != want {
			t.Errorf("got  %s\nwant %s", out, want)
		}
	})
	t.Run("StreamOptionsPresent", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[]}`)
		r, _ := ParseChatRequest(body)
		out, _ := Rewrite(body, &r, "m", 0)
		if !gjson.GetBytes(out, "stream_options.include_usage").Bool() {
			t.Errorf("got %s", out)
		}
	})
	t.Run("StreamOptionsNull", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m","stream":true,"stream_options":null,"messages":[]}`)
		r, _ := ParseChatRequest(body)
		out, err := Rewrite(body, &r, "m", 0)
		if err != nil || !gjson.GetBytes(out, "stream_options.include_usage").Bool() || !gjson.ValidBytes(out) {
			t.Errorf("got %s, %v", out, err)
		}
	})
	t.Run("Untouched", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"model":"m", "messages":[ ]}`)
		r, _ := ParseChatRequest(body)
		out, _ := Rewrite(body, &r, "m", 0)
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
			out, err := Rewrite(append([]byte(nil), body...), &r, "up", 7)
			if err != nil {
				continue
			}
			if !gjson.ValidBytes(out) || gjson.GetBytes(out, "model").Str != "up" ||
				!gjson.GetBytes(out, "stream_options.include_usage").Bool() || gjson.GetBytes(out, "max_tokens").Int() != 7 {
				t.Fatalf("rewrite of %q gave %q", body, out)
			}
		}
	})
}
