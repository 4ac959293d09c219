package dataplane_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
)

// TestRevokeInFlight checks DESIGN.md invariant 4 from the client's side: a
// stream of a payer that is revoked (or whose key is revoked, or whose app
// is suspended) while it runs ends with the typed error, and the next
// request is refused. The streams asked for would take minutes.
func TestRevokeInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		revoke string
		code   string
		status int
	}{
		{"ErrConnectionRevoked", `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_user_id = 'u1'`, wattfare.EConnectionRevoked, 403},
		{"ErrKeyRevoked", `UPDATE api_keys SET revoked_at = now()`, wattfare.EInvalidAPIKey, 401},
		{"ErrAppSuspended", `UPDATE apps SET suspended_at = now()`, wattfare.EAppSuspended, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			conn, br, hdr := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=3000]] [[sandbox:delay-ms=50]]", `,"stream":true`))
			defer conn.Close()
			id := hdr.Get("Wattfare-Request-Id")
			// Wait for the first token, then revoke.
			var got strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString(line)
				if strings.Contains(line, `"content":"echo"`) {
					break
				}
			}
			e.exec(tt.revoke)
			io.Copy(&got, br) // the rest of the stream, to its end
			s := got.String()
			if !strings.Contains(s, `"code":"`+tt.code+`"`) || !strings.Contains(s, `"finish_reason":"error"`) {
				t.Fatalf("stream did not end with %s:\n…%s", tt.code, s[max(0, len(s)-600):])
			}
			if n := strings.Count(s, `"content":"`); n > 1000 {
				t.Errorf("%d tokens passed after the revoke", n)
			}
			c := e.charge(id)
			if c.Status != "revoked" || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) || c.CompletionTokens < 1 {
				t.Errorf("charge %+v", c)
			}
			resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("again", ""))
			if resp.StatusCode != tt.status || decodeErr(t, body).Error.Code != tt.code {
				t.Errorf("after the revoke: %d %s", resp.StatusCode, body)
			}
			_ = http.StatusOK
		})
	}
}

// TestRevokeBeforeFirstByte: a non-streamed request whose upstream is still
// working when the user revokes ends at once with the typed error, and is
// charged its prompt, which the upstream had.
func TestRevokeBeforeFirstByte(t *testing.T) {
	t.Parallel()
	e := setup(t)
	type result struct {
		resp *http.Response
		body []byte
	}
	done := make(chan result, 1)
	go func() {
		resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("[[sandbox:tokens=600]] [[sandbox:delay-ms=100]]", ""))
		done <- result{resp, body}
	}()
	eventually(t, "the request is in flight", func() bool { return e.srv.InFlight() == 1 })
	e.exec(`UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_user_id = 'u1'`)
	r := <-done
	if r.resp.StatusCode != 403 || decodeErr(t, r.body).Error.Code != wattfare.EConnectionRevoked {
		t.Fatalf("%d %s", r.resp.StatusCode, r.body)
	}
	c := e.charge(r.resp.Header.Get("Wattfare-Request-Id"))
	if c.Status != "revoked" || c.CompletionTokens != 0 || c.Charged != echoCost(c.PromptTokens, 0) || c.PromptTokens == 0 {
		t.Errorf("charge %+v", c)
	}
}
