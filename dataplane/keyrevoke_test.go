package dataplane_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// TestRevokeKeyUnderLoadOfOtherKeys: a developer revokes one secret key
// while the app's other key keeps the data plane busy for another user. The
// revoke returns without PROPAGATION_PENDING (the data plane surrenders
// every lease of the app and mode, not only those the revoked key used), the
// revoked key's stream ends with invalid_api_key, and the other key goes on
// working.
func TestRevokeKeyUnderLoadOfOtherKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sk2 := wattfare.NewSecretKey(wattfare.ModeTest)
	e.addKey(sk2, "efgh")
	e.connect("u2", wattfare.USD(10))

	call2 := func(client *http.Client) (int, string) {
		req, _ := http.NewRequest("POST", e.dataURL+"/v1/chat/completions", strings.NewReader(chatBody("[[sandbox:tokens=5]]", "")))
		req.Header.Set("Authorization", "Bearer "+sk2.String())
		req.Header.Set("Wattfare-User", "u2")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The other key's traffic, on its own connection, until the test ends.
	client2 := &http.Client{Transport: &http.Transport{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	var failed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, body := call2(client2); code != 200 {
				failed.Store(body)
			} else {
				served.Add(1)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	eventually(t, "the other key is served", func() bool { return served.Load() > 3 })

	conn, br, _ := e.rawStream(t, "u1", chatBody("[[sandbox:tokens=3000]] [[sandbox:delay-ms=50]]", `,"stream":true`))
	defer conn.Close()
	var got strings.Builder
	for !strings.Contains(got.String(), `"content":"echo"`) {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(line)
	}

	keys := &postgres.Keys{DB: e.pool, LeaseWait: 4 * time.Second}
	if _, err := keys.Revoke(context.Background(), "acct_dev", e.keyID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	io.Copy(&got, br) // the rest of the stream, to its end
	if s := got.String(); !strings.Contains(s, `"code":"`+wattfare.EInvalidAPIKey+`"`) || !strings.Contains(s, `"finish_reason":"error"`) {
		t.Fatalf("the revoked key's stream did not end with invalid_api_key:\n…%s", s[max(0, len(s)-600):])
	}
	resp, body := e.call("POST", "/v1/chat/completions", "u1", chatBody("again", ""))
	if resp.StatusCode != 401 || decodeErr(t, body).Error.Code != wattfare.EInvalidAPIKey {
		t.Errorf("revoked key after the revoke: %d %s", resp.StatusCode, body)
	}
	before := served.Load()
	eventually(t, "the other key is still served", func() bool { return served.Load() > before+3 })
	if code, body := call2(client2); code != 200 {
		t.Errorf("the other key after the revoke: %d %s", code, body)
	}
	if f := failed.Load(); f != nil {
		t.Errorf("the other key was refused: %s", f)
	}
}
