package dataplane_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
)

func TestHardening(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("ErrHeaderTooLarge", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.dataURL+"/v1/chat/completions", strings.NewReader(chatBody("hi", "")))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Wattfare-User", "u1")
		req.Header.Set("X-Padding", strings.Repeat("x", 20_000))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 413 || resp.Header.Get("Wattfare-Request-Id") == "" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})

	t.Run("ErrUnknownRoute", func(t *testing.T) {
		resp, body := e.call("GET", "/v1/nope", "u1", "")
		if resp.StatusCode != 404 || decodeErr(t, body).Error.Code != wattfare.EInvalidRequest {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("GracefulShutdownFinishesStreams", func(t *testing.T) {
		conn, br, hdr := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=20]] [[sandbox:delay-ms=20]]", `,"stream":true`))
		defer conn.Close()
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done <- e.srv.Shutdown(ctx)
		}()
		var rest strings.Builder
		for {
			line, err := br.ReadString('\n')
			rest.WriteString(line)
			if err != nil || strings.HasPrefix(line, "data: [DONE]") {
				break
			}
		}
		if !strings.Contains(rest.String(), "data: [DONE]") || strings.Count(rest.String(), `echo"}`) != 20 {
			t.Fatalf("stream cut by the shutdown:\n%s", rest.String())
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if c := e.charge(hdr.Get("Wattfare-Request-Id")); c.Status != "ok" || c.CompletionTokens != 20 {
			t.Errorf("charge %+v", c)
		}
		if _, err := net.DialTimeout("tcp", strings.TrimPrefix(e.dataURL, "http://"), time.Second); err == nil {
			t.Errorf("still accepting after shutdown")
		}
	})
}

// TestDatabaseDown: with Postgres unreachable, what is cached keeps its
// answers and what is not gets 503 unavailable, never a 500.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if resp, _ := e.call("GET", "/v1/models", "", ""); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e.pool.Close()
	t.Run("CachedKeyStillKnown", func(t *testing.T) {
		if resp, body := e.call("GET", "/v1/models", "", ""); resp.StatusCode != 200 {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "never-seen", chatBody("hi", ""))
		if resp.StatusCode != 503 || decodeErr(t, body).Error.Code != wattfare.EUnavailable {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestSlowClient: a client that stops reading a stream is cut after the
// client idle timeout, and charged for what was generated until then.
func TestSlowClient(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *dataplane.Config) { c.ClientIdleTimeout = 500 * time.Millisecond })
	// 4096 words of 1,000 bytes: far more than the sockets' buffers hold.
	conn, br, hdr := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=4096]] "+strings.Repeat("x", 1000), `,"stream":true,"max_tokens":4096`))
	defer conn.Close()
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Read nothing more: the proxy's writes fill the socket buffers and stall.
	c := e.charge(hdr.Get("Wattfare-Request-Id"))
	if c.Status != "client_closed" || c.CompletionTokens == 0 || c.CompletionTokens >= 4096*1000 || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) {
		t.Errorf("charge %+v", c)
	}
}

// TestUpstreamTimeouts: the upstream's first byte and each gap after it
// are bounded; neither bounds a whole stream.
func TestUpstreamTimeouts(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *dataplane.Config) {
		c.UpstreamFirstByteTimeout = 300 * time.Millisecond
		c.UpstreamIdleTimeout = 300 * time.Millisecond
	})

	t.Run("ErrFirstByte", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=3]] [[sandbox:delay-ms=400]]", ""))
		if resp.StatusCode != 504 || decodeErr(t, body).Error.Code != wattfare.EUpstreamTimeout {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if c := e.charge(resp.Header.Get("Wattfare-Request-Id")); c.Charged != 0 {
			t.Errorf("charge %+v", c)
		}
	})

	t.Run("ErrIdle", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=3]] [[sandbox:delay-ms=400]]", `,"stream":true`))
		s := string(body)
		if resp.StatusCode != 200 || !strings.Contains(s, `"code":"upstream_timeout"`) || !strings.Contains(s, `"finish_reason":"error"`) {
			t.Fatalf("%d %s", resp.StatusCode, s)
		}
	})

	t.Run("LongStreamWithShortGaps", func(t *testing.T) {
		// 20 tokens 100 ms apart: two seconds in all, no gap over the limit.
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=20]] [[sandbox:delay-ms=100]]", `,"stream":true`))
		if resp.StatusCode != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *dataplane.Config) { c.ConnectionRateLimit = 0.1; c.RateBurst = 2 })
	for i := 0; i < 2; i++ {
		if resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("hi", "")); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	t.Run("ErrRateLimited", func(t *testing.T) {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("hi", ""))
		eb := decodeErr(t, body)
		if resp.StatusCode != 429 || eb.Error.Code != wattfare.ERateLimited || eb.Error.Metadata["limit_source"] != "connection_rate" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		e.noCharge(resp.Header.Get("Wattfare-Request-Id"))
	})
	t.Run("OtherConnectionsUnaffected", func(t *testing.T) {
		e.connect("u2", wattfare.USD(1))
		if resp, body := e.call("POST", "/v1/chat/completions", "u2", chatBody("hi", "")); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}
