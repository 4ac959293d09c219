package dataplane_test

import (
	"testing"

	"github.com/wattfare/wattfare"
)

// TestUserHeaderRefused: a Wattfare-User the ledger cannot store (invalid
// UTF-8, which Postgres refuses with SQLSTATE 22021) or that could not have
// come from a session token is the client's mistake: 400 naming the header,
// not a 503 and an error in the log, and nothing is charged.
func TestUserHeaderRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct{ name, user string }{
		{"InvalidUTF8", "u\xff\xfe"},
		{"TooLong", string(make([]byte, 257))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			user := tt.user
			if tt.name == "TooLong" {
				b := []byte(user)
				for i := range b {
					b[i] = 'a'
				}
				user = string(b)
			}
			resp, body := e.call("POST", "/v1/chat/completions", user, chatBody("hi", ""))
			eb := decodeErr(t, body)
			if resp.StatusCode != 400 || eb.Error.Code != wattfare.EInvalidRequest || eb.Error.Param == nil || *eb.Error.Param != "Wattfare-User" {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
			e.noCharge(resp.Header.Get("Wattfare-Request-Id"))
		})
	}
}
