package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/sandbox"
)

func post(t *testing.T, srv *httptest.Server, path, body string) (*http.Response, string, error) {
	t.Helper()
	resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestChat(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.Handler())
	t.Cleanup(srv.Close)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		resp, body, err := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}`)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v err %v", resp, err)
		}
		var got struct {
			Choices []struct {
				Message struct{ Content string }
			}
			Usage struct{ PromptTokens, CompletionTokens int } `json:"usage"`
		}
		json.Unmarshal([]byte(body), &got)
		if got.Choices[0].Message.Content != "hello there world" {
			t.Errorf("content %q", got.Choices[0].Message.Content)
		}
		// sandbox counts words of all messages; field names are snake_case.
		var u struct {
			Usage struct {
				P int `json:"prompt_tokens"`
				C int `json:"completion_tokens"`
			} `json:"usage"`
		}
		json.Unmarshal([]byte(body), &u)
		if u.Usage.P != 5 || u.Usage.C != 3 {
			t.Errorf("usage %+v, want 5 prompt and 3 completion tokens", u.Usage)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		t.Parallel()
		_, body, err := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b [[sandbox:tokens=5]]"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
		// role chunk, 5 tokens, finish chunk, usage chunk, [DONE]
		if len(events) != 9 {
			t.Fatalf("got %d events:\n%s", len(events), body)
		}
		if !strings.Contains(events[7], `"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}`) {
			t.Errorf("usage chunk %s", events[7])
		}
		if events[8] != "data: [DONE]" {
			t.Errorf("last event %q", events[8])
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		req := `{"model":"sandbox/echo","stream":true,"messages":[{"role":"user","content":"same bytes"}]}`
		_, a, _ := post(t, srv, "/v1/chat/completions", req)
		_, b, _ := post(t, srv, "/v1/chat/completions", req)
		if a != b || strings.Contains(a, `"usage"`) {
			t.Errorf("not deterministic or usage without include_usage:\n%s\n%s", a, b)
		}
	})

	t.Run("MaxTokens", func(t *testing.T) {
		t.Parallel()
		_, body, _ := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","max_tokens":2,"messages":[{"role":"user","content":"[[sandbox:tokens=10]]"}]}`)
		if !strings.Contains(body, `"content":"echo echo"`) || !strings.Contains(body, `"finish_reason":"length"`) {
			t.Errorf("body %s", body)
		}
	})

	t.Run("ErrFailBeforeFirstByte", func(t *testing.T) {
		t.Parallel()
		resp, _, _ := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","messages":[{"role":"user","content":"x [[sandbox:fail-before-first-byte]]"}]}`)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d", resp.StatusCode)
		}
	})

	t.Run("ErrFailMidStream", func(t *testing.T) {
		t.Parallel()
		_, body, err := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","stream":true,"messages":[{"role":"user","content":"[[sandbox:tokens=4]] [[sandbox:fail-mid-stream]]"}]}`)
		if err == nil {
			t.Errorf("stream ended cleanly: %s", body)
		}
		if strings.Count(body, `"content":"`) != 3 { // the role chunk and 2 of 4 tokens
			t.Errorf("body %s", body)
		}
	})

	t.Run("NoUsage", func(t *testing.T) {
		t.Parallel()
		_, body, _ := post(t, srv, "/v1/chat/completions",
			`{"model":"sandbox/echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi [[sandbox:no-usage]]"}]}`)
		if strings.Contains(body, `"prompt_tokens"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Errorf("body %s", body)
		}
	})

	t.Run("ErrModelNotFound", func(t *testing.T) {
		t.Parallel()
		resp, _, _ := post(t, srv, "/v1/chat/completions", `{"model":"sandbox/nope","messages":[]}`)
		if resp.StatusCode != 404 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.Handler())
	t.Cleanup(srv.Close)
	_, body, _ := post(t, srv, "/v1/embeddings", `{"model":"sandbox/embed","input":["one two","three"]}`)
	var got struct {
		Data  []struct{ Embedding []float64 }
		Usage struct {
			P int `json:"prompt_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 2 || len(got.Data[0].Embedding) != 8 || got.Usage.P != 3 {
		t.Errorf("body %s", body)
	}
}

// postSimulating is post with SimulateHeader set to value.
func postSimulating(t *testing.T, srv *httptest.Server, path, value, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sandbox.SimulateHeader, value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestSimulate: asked to, the sandbox answers in the name of a model it
// does not have, with its switches, within the model's context window.
func TestSimulate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.Handler())
	t.Cleanup(srv.Close)
	const sonnet = `{"model":"anthropic/claude-sonnet-4","messages":[{"role":"user","content":%q}]}`

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		resp, body := postSimulating(t, srv, "/v1/chat/completions", "context_length=200000", fmt.Sprintf(sonnet, "a b [[sandbox:tokens=5]]"))
		if resp.StatusCode != 200 || !strings.Contains(body, `"model":"anthropic/claude-sonnet-4"`) || !strings.Contains(body, `"content":"a b a b a"`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("ErrNotAsked", func(t *testing.T) {
		t.Parallel()
		resp, body, _ := post(t, srv, "/v1/chat/completions", fmt.Sprintf(sonnet, "hi"))
		if resp.StatusCode != 404 || !strings.Contains(body, "model_not_found") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("ErrOwnModelOfOtherKind", func(t *testing.T) {
		t.Parallel()
		resp, body := postSimulating(t, srv, "/v1/chat/completions", "context_length=10", `{"model":"sandbox/embed","messages":[]}`)
		if resp.StatusCode != 404 {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("ErrContextLengthExceeded", func(t *testing.T) {
		t.Parallel()
		resp, body := postSimulating(t, srv, "/v1/chat/completions", "context_length=3", fmt.Sprintf(sonnet, "one two three four"))
		var e struct {
			Error struct{ Code, Type, Param string }
		}
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 400 || e.Error.Code != "context_length_exceeded" || e.Error.Type != "invalid_request_error" || e.Error.Param != "messages" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("ReplyStopsAtTheWindow", func(t *testing.T) {
		t.Parallel()
		resp, body := postSimulating(t, srv, "/v1/chat/completions", "context_length=5", fmt.Sprintf(sonnet, "x y [[sandbox:tokens=9]]"))
		if resp.StatusCode != 200 || !strings.Contains(body, `"content":"x y"`) || !strings.Contains(body, `"finish_reason":"length"`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		t.Parallel()
		resp, body := postSimulating(t, srv, "/v1/embeddings", "context_length=8192", `{"model":"openai/text-embedding-3-small","input":"one two"}`)
		if resp.StatusCode != 200 || !strings.Contains(body, `"model":"openai/text-embedding-3-small"`) || !strings.Contains(body, `"prompt_tokens":2`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		resp, body = postSimulating(t, srv, "/v1/embeddings", "context_length=1", `{"model":"openai/text-embedding-3-small","input":["one","two three"]}`)
		if resp.StatusCode != 400 || !strings.Contains(body, "context_length_exceeded") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestToolCall: [[sandbox:tool-call]] answers with a call of the first tool
// (its string properties filled with the message's words), whole or
// streamed; the tool's result is then answered in words.
func TestToolCall(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sandbox.Handler())
	t.Cleanup(srv.Close)
	tools := `"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}]`
	t.Run("Whole", func(t *testing.T) {
		t.Parallel()
		_, body, err := post(t, srv, "/v1/chat/completions", `{"model":"sandbox/echo",`+tools+`,"messages":[{"role":"user","content":"[[sandbox:tool-call]] Paris"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Choices []struct {
				Message struct {
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct{ Name, Arguments string }
					} `json:"tool_calls"`
				}
				FinishReason string `json:"finish_reason"`
			}
		}
		json.Unmarshal([]byte(body), &got)
		if len(got.Choices) != 1 || got.Choices[0].FinishReason != "tool_calls" || len(got.Choices[0].Message.ToolCalls) != 1 {
			t.Fatalf("got %s", body)
		}
		tc := got.Choices[0].Message.ToolCalls[0]
		if tc.Function.Name != "weather" || tc.Function.Arguments != `{"city":"Paris","days":1}` || tc.ID == "" {
			t.Errorf("tool call %+v", tc)
		}
	})
	t.Run("Stream", func(t *testing.T) {
		t.Parallel()
		_, body, err := post(t, srv, "/v1/chat/completions", `{"model":"sandbox/echo","stream":true,"stream_options":{"include_usage":true},`+tools+`,"messages":[{"role":"user","content":"[[sandbox:tool-call]] Paris"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"name":"weather"`, `"arguments":"{\"city\":\"Paris\",\"days\":1}"`, `"finish_reason":"tool_calls"`, `"usage":{"prompt_tokens":`, "data: [DONE]"} {
			if !strings.Contains(body, want) {
				t.Errorf("stream lacks %s:\n%s", want, body)
			}
		}
	})
	t.Run("ResultAnswered", func(t *testing.T) {
		t.Parallel()
		_, body, err := post(t, srv, "/v1/chat/completions", `{"model":"sandbox/echo",`+tools+`,"messages":[{"role":"user","content":"[[sandbox:tool-call]] Paris"},`+
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`)
		if err != nil || !strings.Contains(body, `"content":"the tool said: sunny"`) || strings.Contains(body, "tool_calls") {
			t.Fatalf("got %s, %v", body, err)
		}
	})
}
