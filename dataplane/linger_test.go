package dataplane_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestOversizedBodyAnswersTyped413 uploads a body far over the limit in
// paced chunks, as a client on a real network does, and checks that it can
// read the typed request_too_large error: the data plane must not reset the
// connection under a client that is still sending.
func TestOversizedBodyAnswersTyped413(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u, _ := url.Parse(e.dataURL)
	body := chatBody(strings.Repeat("word ", 100_000), "") // ~500 KB against a 64 KiB limit
	for i := range 3 {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
			"Wattfare-User: u1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, e.key, len(body))
		for off := 0; off < len(body); off += 32 << 10 {
			if _, err := conn.Write([]byte(body[off:min(off+32<<10, len(body))])); err != nil {
				t.Fatalf("upload %d: the data plane reset the connection while the body was sent: %v", i, err)
			}
			time.Sleep(5 * time.Millisecond) // pacing, not an assertion
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("upload %d: no response readable: %v", i, err)
		}
		var eb errBody
		json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 413 || eb.Error.Code != wattfare.ERequestTooLarge {
			t.Fatalf("got %d %+v, want 413 %s", resp.StatusCode, eb.Error, wattfare.ERequestTooLarge)
		}
	}
}
