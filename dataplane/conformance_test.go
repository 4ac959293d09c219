package dataplane_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/wattfare/wattfare"
)

// tee records every response body a client reads, by Wattfare-Request-Id.
type tee struct {
	mu     sync.Mutex
	bodies map[string]*bytes.Buffer
	user   string
}

func (t *tee) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.user != "" {
		r.Header.Set("Wattfare-User", t.user)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	buf := &bytes.Buffer{}
	t.mu.Lock()
	t.bodies[resp.Header.Get("Wattfare-Request-Id")] = buf
	t.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, buf), resp.Body}
	return resp, nil
}

func (t *tee) body(id string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.bodies[id]; b != nil {
		return b.Bytes()
	}
	return nil
}

func newTee(user string) *tee { return &tee{bodies: map[string]*bytes.Buffer{}, user: user} }

// TestOpenAIGo drives the proxy with the official openai-go client.
func TestOpenAIGo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.connect("nocap", 0)
	ctx := context.Background()
	client := func(user string, tr *tee) *openai.Client {
		opts := []option.RequestOption{
			option.WithBaseURL(e.dataURL + "/v1/"), option.WithAPIKey(e.key), option.WithMaxRetries(0),
		}
		if user != "" {
			opts = append(opts, option.WithHeader("Wattfare-User", user))
		}
		if tr != nil {
			opts = append(opts, option.WithHTTPClient(&http.Client{Transport: tr}))
		}
		c := openai.NewClient(opts...)
		return &c
	}

	t.Run("OK", func(t *testing.T) {
		var hdr *http.Response
		c, err := client("u1", nil).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "sandbox/echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello from openai-go")},
		}, option.WithResponseInto(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if c.Choices[0].Message.Content != "hello from openai-go" || c.Usage.CompletionTokens != 3 {
			t.Errorf("completion %+v", c)
		}
		ch := e.charge(hdr.Header.Get("Wattfare-Request-Id"))
		if ch.Charged != echoCost(c.Usage.PromptTokens, c.Usage.CompletionTokens) {
			t.Errorf("charged %v for usage %+v", ch.Charged, c.Usage)
		}
	})

	t.Run("StreamAccumulator", func(t *testing.T) {
		tr := newTee("")
		stream := client("u1", tr).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "sandbox/echo",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me [[sandbox:tokens=12]]")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if acc.Usage.CompletionTokens != 12 || acc.Usage.PromptTokens != 3 || len(strings.Fields(acc.Choices[0].Message.Content)) != 12 {
			t.Errorf("accumulated %+v", acc.ChatCompletion)
		}
		// Byte for byte what the sandbox sent (the client asked for usage).
		var id string
		for k := range tr.bodies {
			id = k
		}
		if got, want := tr.body(id), e.sandbox.body(id); !bytes.Equal(got, want) || len(got) == 0 {
			t.Errorf("client read\n%s\nupstream sent\n%s", got, want)
		}
		ch := e.charge(id)
		if ch.Status != "ok" || ch.Charged != echoCost(3, 12) {
			t.Errorf("charge %+v", ch)
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		r, err := client("u1", nil).Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "sandbox/embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a b", "c"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Data) != 2 || r.Usage.PromptTokens != 3 {
			t.Errorf("embeddings %+v", r)
		}
	})

	t.Run("Models", func(t *testing.T) {
		page, err := client("", nil).Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A test key lists the whole catalog (the sandbox simulates it).
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if len(ids) != 7 || ids[0] != "anthropic/claude-sonnet-4" || ids[4] != "sandbox/echo" {
			t.Errorf("models %v", ids)
		}
	})

	errTests := []struct {
		name   string
		user   string
		model  string
		status int
		code   string
	}{
		{"ErrNotConnected", "nobody", "sandbox/echo", 403, wattfare.ENotConnected},
		{"ErrCapReached", "nocap", "sandbox/echo", 402, wattfare.ECapReached},
		{"ErrModelNotFound", "u1", "nope", 404, wattfare.EModelNotFound},
		{"ErrMissingUser", "", "sandbox/echo", 400, wattfare.EInvalidRequest},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(tt.user, nil).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    tt.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Message == "" {
				t.Fatalf("got %v, want %d %s", err, tt.status, tt.code)
			}
		})
		t.Run(tt.name+"Stream", func(t *testing.T) {
			stream := client(tt.user, nil).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    tt.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			for stream.Next() {
			}
			var apiErr *openai.Error
			if err := stream.Err(); !errors.As(err, &apiErr) || apiErr.Code != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}

	t.Run("ErrInvalidAPIKey", func(t *testing.T) {
		c := openai.NewClient(option.WithBaseURL(e.dataURL+"/v1/"), option.WithAPIKey("sk_test_nope"), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "sandbox/echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != wattfare.EInvalidAPIKey {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("ErrMidStream", func(t *testing.T) {
		stream := client("u1", nil).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "sandbox/echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("[[sandbox:tokens=6]] [[sandbox:fail-mid-stream]]")},
		})
		n := 0
		for stream.Next() {
			n++
		}
		err := stream.Err()
		if err == nil || !strings.Contains(err.Error(), wattfare.EUpstreamError) || n != 4 {
			t.Fatalf("after %d chunks: %v", n, err)
		}
	})
}

// TestGoOpenAI drives the proxy with a second, independent client.
func TestGoOpenAI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	client := func(user string) *goopenai.Client {
		cfg := goopenai.DefaultConfig(e.key)
		cfg.BaseURL = e.dataURL + "/v1"
		cfg.HTTPClient = &http.Client{Transport: newTee(user)}
		return goopenai.NewClientWithConfig(cfg)
	}

	t.Run("OK", func(t *testing.T) {
		r, err := client("u1").CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model:    "sandbox/echo",
			Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "second client here"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Choices[0].Message.Content != "second client here" || r.Usage.TotalTokens != 6 {
			t.Errorf("%+v", r)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		s, err := client("u1").CreateChatCompletionStream(ctx, goopenai.ChatCompletionRequest{
			Model:         "sandbox/echo",
			Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: "x [[sandbox:tokens=9]]"}},
			Stream:        true,
			StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var text strings.Builder
		var usage *goopenai.Usage
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Choices) > 0 {
				text.WriteString(r.Choices[0].Delta.Content)
			}
			if r.Usage != nil {
				usage = r.Usage
			}
		}
		if len(strings.Fields(text.String())) != 9 || usage == nil || usage.CompletionTokens != 9 {
			t.Errorf("text %q usage %+v", text.String(), usage)
		}
	})

	t.Run("ErrNotConnected", func(t *testing.T) {
		_, err := client("stranger").CreateChatCompletion(ctx, goopenai.ChatCompletionRequest{
			Model: "sandbox/echo", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
		})
		var apiErr *goopenai.APIError
		if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 403 || apiErr.Code != wattfare.ENotConnected {
			t.Fatalf("got %v", err)
		}
	})
}
