package dataplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/wattfare/wattfare"
)

// TestResponsesOpenAIGo drives POST /v1/responses with openai-go's
// Responses.New and Responses.NewStreaming: the same auth, holds, typed
// errors and exact metering as chat completions, the stream passed through
// byte for byte.
func TestResponsesOpenAIGo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.connect("small", 5*wattfare.Cent) // $0.05: under fifty sandbox/pricey tokens
	ctx := context.Background()
	client := func(user string, tr *tee) *openai.Client {
		opts := []option.RequestOption{option.WithBaseURL(e.dataURL + "/v1/"), option.WithAPIKey(e.key), option.WithMaxRetries(0)}
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
		c := client("u1", nil)
		r, err := c.Responses.New(ctx, responses.ResponseNewParams{
			Model:        "sandbox/echo",
			Instructions: openai.String("be brief"),
			Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("hello from responses")},
		}, option.WithResponseInto(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputText() != "hello from responses" || r.Usage.InputTokens != 5 || r.Usage.OutputTokens != 3 || r.Status != "completed" {
			t.Fatalf("response %q %+v %s", r.OutputText(), r.Usage, r.Status)
		}
		ch := e.charge(hdr.Header.Get("Wattfare-Request-Id"))
		if ch.Status != "ok" || ch.Charged != echoCost(5, 3) || ch.PromptTokens != 5 || ch.CompletionTokens != 3 {
			t.Fatalf("charge %+v, want %s", ch, echoCost(5, 3))
		}
		if hdr.Header.Get("Wattfare-Budget-Remaining") == "" {
			t.Error("no Wattfare-Budget-Remaining header")
		}
	})

	t.Run("MaxOutputTokens", func(t *testing.T) {
		var hdr *http.Response
		r, err := client("u1", nil).Responses.New(ctx, responses.ResponseNewParams{
			Model:           "sandbox/echo",
			Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("a long one [[sandbox:tokens=40]]")},
			MaxOutputTokens: openai.Int(7),
		}, option.WithResponseInto(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Usage.OutputTokens != 7 {
			t.Fatalf("status %s %+v usage %+v", r.Status, r.IncompleteDetails, r.Usage)
		}
		if ch := e.charge(hdr.Header.Get("Wattfare-Request-Id")); ch.Charged != echoCost(r.Usage.InputTokens, 7) {
			t.Fatalf("charge %+v", ch)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		tr := newTee("")
		stream := client("u1", tr).Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "sandbox/echo",
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("stream me please [[sandbox:tokens=12]]", responses.EasyInputMessageRoleUser),
			}},
		})
		var text strings.Builder
		var final responses.Response
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if len(strings.Fields(text.String())) != 12 || final.Usage.OutputTokens != 12 || final.Usage.InputTokens != 4 {
			t.Fatalf("streamed %q, final usage %+v", text.String(), final.Usage)
		}
		var id string
		for k := range tr.bodies {
			id = k
		}
		if got, want := tr.body(id), e.sandbox.body(id); !bytes.Equal(got, want) || len(got) == 0 {
			t.Fatalf("client read\n%s\nupstream sent\n%s", got, want)
		}
		if ch := e.charge(id); ch.Status != "ok" || ch.Charged != echoCost(4, 12) {
			t.Fatalf("charge %+v, want %s", ch, echoCost(4, 12))
		}
	})

	t.Run("StreamWithoutUsage", func(t *testing.T) {
		// The upstream never says what it cost: what was counted is
		// charged, never zero, and never less than what was delivered.
		tr := newTee("")
		stream := client("u1", tr).Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "sandbox/echo",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("count me [[sandbox:tokens=9]] [[sandbox:no-usage]]")},
		})
		for stream.Next() {
		}
		stream.Close()
		var id string
		for k := range tr.bodies {
			id = k
		}
		if ch := e.charge(id); ch.Charged < echoCost(0, 9) || ch.CompletionTokens < 9 {
			t.Fatalf("charge %+v for 9 delivered tokens", ch)
		}
	})

	t.Run("ErrCapReachedMidStream", func(t *testing.T) {
		// $0.05 of cap at $1,000 per million tokens: under fifty tokens;
		// the stream asks for 2,000 and is cut with a typed error event,
		// which openai-go surfaces as the stream's error.
		tr := newTee("")
		stream := client("small", tr).Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "sandbox/pricey",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("go on [[sandbox:tokens=2000]]")},
		})
		var deltas int64
		for stream.Next() {
			if stream.Current().Type == "response.output_text.delta" {
				deltas++
			}
		}
		err := stream.Err()
		stream.Close()
		var id string
		for k := range tr.bodies {
			id = k
		}
		body := tr.body(id)
		if err == nil || !strings.Contains(err.Error(), wattfare.ECapReached) {
			t.Fatalf("stream error %v after %d deltas:\n%s", err, deltas, tail(body))
		}
		if !bytes.Contains(body, []byte("event: error\ndata: {\"type\":\"error\"")) || !bytes.Contains(body, []byte(`"code":"cap_reached"`)) ||
			!bytes.Contains(body, []byte(`"limit_source":"connection_cap"`)) {
			t.Fatalf("the stream does not end with a typed error event saying which limit tripped: %s", tail(body))
		}
		ch := e.charge(id)
		pricey := wattfare.PricePerMillion(wattfare.USD(1000))
		if ch.Charged > 5*wattfare.Cent || ch.Charged < pricey.Cost(deltas) || ch.Status != "cut" {
			t.Fatalf("charge %+v for %d delivered tokens on a $0.05 cap", ch, deltas)
		}
	})

	t.Run("SimulatedCatalogModel", func(t *testing.T) {
		// A test key calling a catalog model gets the sandbox's simulation
		// of it, on the Responses API too, priced as that model.
		var hdr *http.Response
		r, err := client("u1", nil).Responses.New(ctx, responses.ResponseNewParams{
			Model: "openai/gpt-4o-mini",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("simulate me")},
		}, option.WithResponseInto(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputText() != "simulate me" || string(r.Model) != "openai/gpt-4o-mini" || hdr.Header.Get("Wattfare-Simulated") != "true" {
			t.Fatalf("%q model %s simulated %q", r.OutputText(), r.Model, hdr.Header.Get("Wattfare-Simulated"))
		}
	})

	t.Run("ErrNotConnected", func(t *testing.T) {
		_, err := client("stranger", nil).Responses.New(ctx, responses.ResponseNewParams{
			Model: "sandbox/echo",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != wattfare.ENotConnected {
			t.Fatalf("%v", err)
		}
	})

	t.Run("ErrModelNotFound", func(t *testing.T) {
		_, err := client("u1", nil).Responses.New(ctx, responses.ResponseNewParams{
			Model: "sandbox/embed",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != wattfare.EModelNotFound {
			t.Fatalf("%v", err)
		}
	})
}

func tail(b []byte) []byte {
	if len(b) > 600 {
		return b[len(b)-600:]
	}
	return b
}

// TestHostileResponses: Responses bodies that would make the upstream read
// something other than what Wattfare metered are refused with
// invalid_request naming the field, before anything goes upstream or is
// held; the hold covers the output limit Wattfare sends.
func TestHostileResponses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct {
		name, body, param string
	}{
		{"DuplicateLimit", `{"model":"sandbox/echo","input":"hi","max_output_tokens":5,"max_output_tokens":100000}`, "max_output_tokens"},
		{"CaseFoldedLimit", `{"model":"sandbox/echo","input":"hi","max_output_tokens":5,"Max_Output_Tokens":100000}`, "max_output_tokens"},
		{"CaseFoldedStream", `{"model":"sandbox/echo","input":"hi","Stream":true}`, "stream"},
		{"EscapedLimit", `{"model":"sandbox/echo","input":"hi","max_output\u005ftokens":5}`, "max_output_tokens"},
		{"DuplicateInput", `{"model":"sandbox/echo","input":"hi","input":"a much longer prompt the upstream would read instead"}`, "input"},
		{"DuplicateModel", `{"model":"sandbox/echo","input":"hi","model":"sandbox/pricey"}`, "model"},
		{"FloatLimit", `{"model":"sandbox/echo","input":"hi","max_output_tokens":1e3}`, "max_output_tokens"},
		{"NegativeLimit", `{"model":"sandbox/echo","input":"hi","max_output_tokens":-1}`, "max_output_tokens"},
		{"StoredConversation", `{"model":"sandbox/echo","input":"hi","previous_response_id":"resp_123"}`, "previous_response_id"},
		{"Background", `{"model":"sandbox/echo","input":"hi","background":true}`, "background"},
		{"NoInput", `{"model":"sandbox/echo"}`, "input"},
		{"BadInputItem", `{"model":"sandbox/echo","input":["hi"]}`, "input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.call("POST", "/v1/responses", "u1", tt.body)
			var env errBody
			json.Unmarshal(b, &env)
			if resp.StatusCode != 400 || env.Error.Code != wattfare.EInvalidRequest || env.Error.Param == nil || *env.Error.Param != tt.param {
				t.Fatalf("%d %s: want 400 invalid_request on %s", resp.StatusCode, b, tt.param)
			}
			id := resp.Header.Get("Wattfare-Request-Id")
			if e.sandbox.body(id) != nil {
				t.Fatal("a refused body went upstream")
			}
			e.noCharge(id)
		})
	}

	t.Run("HoldCoversTheLimitSent", func(t *testing.T) {
		// No max_output_tokens: the proxy sends the one its hold covers,
		// and the upstream stops there.
		var seen []byte
		e.sandbox.override = func(w http.ResponseWriter, r *http.Request) {
			buf := new(bytes.Buffer)
			buf.ReadFrom(r.Body)
			seen = buf.Bytes()
			r.Body = http.NoBody
			e.sandbox.h.ServeHTTP(w, r.Clone(r.Context()))
		}
		defer func() { e.sandbox.override = nil }()
		resp, b := e.call("POST", "/v1/responses", "u1", `{"model":"sandbox/echo","input":"hi there"}`)
		if resp.StatusCode == 200 {
			t.Logf("answer %s", b)
		}
		var sent struct {
			MaxOutputTokens int64 `json:"max_output_tokens"`
		}
		if err := json.Unmarshal(seen, &sent); err != nil || sent.MaxOutputTokens <= 0 {
			t.Fatalf("the upstream got %s: no max_output_tokens", seen)
		}
	})
}
