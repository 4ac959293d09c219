package dataplane_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// budgetFigures is GET /v1/budget's answer.
type budgetFigures struct {
	Cap, Spent, Held, Remaining wattfare.Money
	header                      string
}

func (e *env) budget(t *testing.T, user string) budgetFigures {
	t.Helper()
	resp, body := e.call("GET", "/v1/budget", user, "")
	var got struct {
		Cap       string `json:"cap_usd"`
		Spent     string `json:"spent_usd"`
		Held      string `json:"held_usd"`
		Remaining string `json:"remaining_usd"`
	}
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/budget: %d %s", resp.StatusCode, body)
	}
	parse := func(s string) wattfare.Money {
		m, err := wattfare.ParseMoney(s)
		if err != nil {
			t.Fatalf("GET /v1/budget: %q: %v (%s)", s, err, body)
		}
		return m
	}
	return budgetFigures{Cap: parse(got.Cap), Spent: parse(got.Spent), Held: parse(got.Held),
		Remaining: parse(got.Remaining), header: resp.Header.Get("Wattfare-Budget-Remaining")}
}

// pricey is what tokens of sandbox/pricey cost ($1,000 per million each way).
func pricey(prompt, completion int64) wattfare.Money {
	return wattfare.Price(1_000_000_000).Cost(prompt + completion)
}

// TestBudgetFigures: GET /v1/budget reads as an app developer expects. A
// request that just finished is spent at once (its settlement still waits
// for its batch), nothing is held while nothing runs (the lease's idle
// reserve is not the user's concern), a running request holds its worst
// case, and remaining is what the cap and the wallet leave after both.
func TestBudgetFigures(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *spend.Config) {
		// Settlements wait for their batch, and the lease stays, for the
		// whole test: the figures must not depend on when they commit.
		c.BatchInterval = time.Hour
		c.IdleAfter = time.Hour
	})
	// The wallet, not the $10 cap, is the tighter limit.
	e.exec(`UPDATE wallets SET credits = $1 WHERE account_id = $2`, int64(wattfare.USD(1)), e.account)

	check := func(step string, got budgetFigures, spent, held, remaining wattfare.Money) {
		t.Helper()
		if got.Cap != wattfare.USD(10) || got.Spent != spent || got.Held != held || got.Remaining != remaining || got.header != remaining.String() {
			t.Errorf("%s: cap %s spent %s held %s remaining %s (header %s); want spent %s held %s remaining %s",
				step, got.Cap, got.Spent, got.Held, got.Remaining, got.header, spent, held, remaining)
		}
	}
	check("OK before any request", e.budget(t, "u1"), 0, 0, wattfare.USD(1))

	resp, body := e.call("POST", "/v1/chat/completions", "u1", `{"model":"sandbox/pricey","max_tokens":100,
		"messages":[{"role":"user","content":"hello [[sandbox:tokens=50]]"}]}`)
	var done struct {
		Usage struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &done); resp.StatusCode != 200 || err != nil || done.Usage.Completion != 50 {
		t.Fatalf("request: %d %s", resp.StatusCode, body)
	}
	cost := pricey(done.Usage.Prompt, done.Usage.Completion)
	check("OK right after a request", e.budget(t, "u1"), cost, 0, wattfare.USD(1)-cost)

	// A stream in flight holds its worst case: its prompt and 200 tokens.
	conn, br, _ := e.rawStream(t, "u1", `{"model":"sandbox/pricey","max_tokens":200,"stream":true,
		"messages":[{"role":"user","content":"hello [[sandbox:tokens=3000]] [[sandbox:delay-ms=50]]"}]}`)
	defer conn.Close()
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	during := e.budget(t, "u1")
	if during.Held < pricey(0, 200) || during.Held > pricey(50, 200) {
		t.Errorf("held %s while a stream of at most 200 tokens runs", during.Held)
	}
	check("OK while a stream runs", during, cost, during.Held, wattfare.USD(1)-cost-during.Held)

	// The client goes away: the stream is charged what it produced, and
	// holds nothing more.
	conn.Close()
	eventually(t, "the stream settled", func() bool { return e.srv.InFlight() == 0 })
	after := e.budget(t, "u1")
	if after.Spent <= cost || after.Spent > cost+pricey(50, 200) {
		t.Errorf("spent %s after the stream, want more than %s", after.Spent, cost)
	}
	check("OK after the stream", after, after.Spent, 0, wattfare.USD(1)-after.Spent)
	if !strings.HasPrefix(after.header, "0.") {
		t.Errorf("header %q", after.header)
	}
}
