package fakeupstream

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, s *Server, id, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.BaseURL()+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Wattfare-Request-Id", id)
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestFake(t *testing.T) {
	s := New()
	defer s.Close()
	s.Set("m", Behaviour{Tokens: 7, HonourMaxTokens: true})
	s.Set("py", Behaviour{Tokens: 3, Style: Spaced})
	s.Set("tpl", Behaviour{Tokens: 3, Style: Templated, CRLF: true, Comments: true, NoSpace: true})
	s.Set("ind", Behaviour{Tokens: 2, Style: Indented, Gzip: true})
	s.Set("tool", Behaviour{Tokens: 5, ToolCall: true, TokensPerDelta: 2, HiddenReasoning: 4})

	// Case-folded keys, last duplicate wins: MAX_TOKENS=3.
	_, b := post(t, s, "a", `{"model":"m","messages":[{"role":"user","content":"one two"}],"Stream":true,"max_tokens":60,"MAX_TOKENS":3,"stream_options":{"include_usage":true}}`)
	x, _ := s.Exchange("a", time.Second)
	if !x.Received.Stream || *x.Received.MaxTokens != 3 || x.Sent.Visible != 3 || CountTokens(b) != 3 || x.Sent.PromptTokens != 2 || x.Sent.UsageSent != 1 {
		t.Errorf("case-folded: %+v %+v\n%s", x.Received, x.Sent, b)
	}
	_, b = post(t, s, "b", `{"model":"py","messages":[],"stream":true,"stream_options":{"include_usage":true}}`)
	if !strings.Contains(b, `"content": "Xq "`) || !strings.Contains(b, `"usage": {"prompt_tokens": 0`) {
		t.Errorf("spaced:\n%s", b)
	}
	_, b = post(t, s, "c", `{"model":"tpl","messages":[],"stream":true,"stream_options":{"include_usage":true}}`)
	if !strings.Contains(b, "data:{\"id\"") || !strings.Contains(b, "\r\n\r\n") || !strings.Contains(b, `"content": "Xq "`) || !strings.Contains(b, ": ping\r\n") || !strings.Contains(b, `"usage": {"prompt_tokens":0`) {
		t.Errorf("templated:\n%q", b)
	}
	resp, b := post(t, s, "d", `{"model":"ind","messages":[],"stream":true}`)
	zr, err := gzip.NewReader(bytes.NewReader([]byte(b)))
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), "data: {\ndata:   \"id\"") || CountTokens(string(plain)) != 2 {
		t.Errorf("indented:\n%s", plain)
	}
	_, b = post(t, s, "e", `{"model":"tool","messages":[],"n":2}`)
	x, _ = s.Exchange("e", time.Second)
	if CountTokens(b) != 10 || x.Sent.Completion != 18 || x.Sent.Hidden != 8 || !strings.Contains(b, `"arguments":"{\"text\":\"Xq`) {
		t.Errorf("tool whole: %+v\n%s", x.Sent, b)
	}
	_, b = post(t, s, "f", `{"model":"tool","messages":[],"stream":true}`)
	if CountTokens(b) != 5 || strings.Contains(b, `"usage":{`) {
		t.Errorf("tool stream:\n%s", b)
	}
}
