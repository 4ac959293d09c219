package invariants_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
)

// DESIGN.md, invariant 5 and the metering rules: a data-plane process that
// is killed (SIGKILL) loses no spend of bytes that left it. The tests here
// count, from each client's side, the tokens its stream received before
// the process died, and check once the process's spool has been replayed
// (by its next run under the same process id, or by a live process that
// adopts it) that the request's usage event charges at least that much,
// less one token's price:
//
//	charged ≥ prompt × prompt price + tokens received × completion price − one token's price
//
// where the prompt is what the sandbox counts (the words of the messages)
// and prices are the catalog's (the models table).

// tally is one streamed request as its client saw it, counted as it arrived.
type tally struct {
	proc    string
	user    *user
	model   string
	prompt  int64 // the sandbox's prompt tokens: words of the messages
	reqID   string
	status  int
	tokens  atomic.Int64 // content tokens in the complete events received
	code    string       // an error event's code
	done    chan struct{}
	ended   bool // the stream was read to its end (EOF)
	err     error
	started chan struct{} // closed once the response's header arrived (or the request failed)
}

// openStream starts a slow streamed chat completion on p for u and counts
// its tokens as they arrive.
func (c *cluster) openStream(p *proc, u *user, model string, tokens, delayMS, maxTok int, includeUsage bool) *tally {
	msg := fmt.Sprintf("hello [[sandbox:tokens=%d]] [[sandbox:delay-ms=%d]]", tokens, delayMS)
	tl := &tally{proc: p.id, user: u, model: model, prompt: int64(len(strings.Fields(msg))), done: make(chan struct{}), started: make(chan struct{})}
	body := map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": msg}},
		"stream":     true,
		"max_tokens": maxTok,
	}
	if includeUsage {
		body["stream_options"] = map[string]any{"include_usage": true}
	}
	b, _ := json.Marshal(body)
	go func() {
		defer close(tl.done)
		startedOnce := false
		start := func() {
			if !startedOnce {
				startedOnce = true
				close(tl.started)
			}
		}
		defer start()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/v1/chat/completions", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+u.secret)
		req.Header.Set("Wattfare-User", u.AppUserID)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			tl.err = err
			return
		}
		defer resp.Body.Close()
		tl.status, tl.reqID = resp.StatusCode, resp.Header.Get("Wattfare-Request-Id")
		start()
		if resp.StatusCode != 200 {
			io.Copy(io.Discard, resp.Body)
			return
		}
		// Count per complete event (its blank line received): a client
		// acts on an event only once it is whole.
		br := bufio.NewReader(resp.Body)
		var data []byte
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				if err == io.EOF {
					tl.ended = true
				} else {
					tl.err = err
				}
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) > 0 {
				if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					data = append(data, bytes.TrimPrefix(d, []byte(" "))...)
				}
				continue
			}
			var ev struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &ev) == nil {
				for _, ch := range ev.Choices {
					if ch.Delta.Content != "" {
						tl.tokens.Add(1) // the sandbox sends one token per delta
					}
				}
				if ev.Error != nil {
					tl.code = ev.Error.Code
				}
			}
			data = data[:0]
		}
	}()
	return tl
}

// killMidStream is one kill of a process with streams open on it.
type killMidStream struct {
	c       *cluster
	p       *proc
	streams []*tally
}

// cutStream is one stream to open before a kill: the stream's model, its
// tokens' pace, whether the client asks for usage, and how many tokens it
// must have received before the process is killed.
type cutStream struct {
	user    *user
	model   string
	delayMS int
	usage   bool
	atLeast int
	tokens  int // the reply's length and max_tokens (default 400)
}

// openAndKill opens the streams on p, waits until each has received its
// tokens (or ended), and SIGKILLs p.
func (c *cluster) openAndKill(p *proc, plan []cutStream) *killMidStream {
	c.t.Helper()
	k := &killMidStream{c: c, p: p}
	atLeast := make([]int, len(plan))
	for i, cs := range plan {
		n := cs.tokens
		if n == 0 {
			n = 400
		}
		k.streams = append(k.streams, c.openStream(p, cs.user, cs.model, n, cs.delayMS, n, cs.usage))
		atLeast[i] = cs.atLeast
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, s := range k.streams {
		<-s.started
	wait:
		for s.tokens.Load() < int64(atLeast[i]) && time.Now().Before(deadline) {
			select {
			case <-s.done:
				break wait
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	c.kill(p)
	for _, s := range k.streams {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			c.fatalf("a stream on %s did not end after the process was killed", p.id)
		}
	}
	return k
}

// price reads a model's prices from the catalog.
func (c *cluster) price(model string) (prompt, completion wattfare.Price) {
	var p, q int64
	if err := c.pool.QueryRow(context.Background(), `SELECT prompt_price, completion_price FROM models WHERE id = $1`, model).Scan(&p, &q); err != nil {
		c.t.Fatalf("price of %s: %v", model, err)
	}
	return wattfare.Price(p), wattfare.Price(q)
}

// charges waits until every id has a usage event or the deadline passes,
// and returns what was charged per id (absent: never settled).
func (c *cluster) charges(ids []string, wait time.Duration) map[string]wattfare.Money {
	deadline := time.Now().Add(wait)
	for {
		out := map[string]wattfare.Money{}
		rows, err := c.pool.Query(context.Background(), `SELECT request_id, charged FROM usage_events WHERE request_id = ANY($1)`, ids)
		if err != nil {
			c.t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var m int64
			rows.Scan(&id, &m)
			out[id] = wattfare.Money(m)
		}
		rows.Close()
		if len(out) == len(ids) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ids are the request ids of the streams that were admitted.
func (k *killMidStream) ids() []string {
	var ids []string
	for _, s := range k.streams {
		if s.status == 200 && s.reqID != "" {
			ids = append(ids, s.reqID)
		}
	}
	return ids
}

// violations checks, once the dead process's spool had its chance to be
// replayed, that every stream is charged at least what its client received
// (less one token) and that no connection spent more than its cap.
func (k *killMidStream) violations(wait time.Duration) (bad []string, delivered int) {
	c := k.c
	got := c.charges(k.ids(), wait)
	for _, s := range k.streams {
		if s.status != 200 || s.reqID == "" {
			continue
		}
		n := s.tokens.Load()
		if n == 0 {
			continue
		}
		delivered++
		pp, cp := c.price(s.model)
		want := pp.Cost(s.prompt) + cp.Cost(n)
		one := max(pp, cp).Cost(1)
		charged, ok := got[s.reqID]
		c.t.Logf("killed stream %s on %s: %d tokens of %s received (%s with the prompt), charged %s (settled %v)",
			s.reqID, s.proc, n, s.model, money(want), money(charged), ok)
		if charged+one < want {
			how := "no usage event"
			if ok {
				how = "charged " + money(charged)
			}
			bad = append(bad, fmt.Sprintf("request %s on %s (killed): the client received %d tokens of %s (%s with the prompt), %s",
				s.reqID, s.proc, n, s.model, money(want), how))
		}
	}
	seen := map[string]bool{}
	for _, s := range k.streams {
		if seen[s.user.ConnectionID] {
			continue
		}
		seen[s.user.ConnectionID] = true
		var spent, capAmount int64
		if err := c.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT sum(charged) FROM usage_events WHERE connection_id = $1), 0),
			(SELECT monthly_cap FROM connections WHERE id = $1)`, s.user.ConnectionID).Scan(&spent, &capAmount); err != nil {
			c.t.Fatal(err)
		}
		if spent > capAmount {
			bad = append(bad, fmt.Sprintf("connection %s: usage events charge %s over its cap %s", s.user.ConnectionID, money(wattfare.Money(spent)), money(wattfare.Money(capAmount))))
		}
	}
	return bad, delivered
}

// TestKillMidStream SIGKILLs a data-plane process with streams open on it,
// then lets its spool be replayed, both ways: by its next run under the
// same process id, and by the live process that adopts the dead run's spool.
func TestKillMidStream(t *testing.T) {
	for _, how := range []string{"RestartSameID", "AdoptedByAnother"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 2, 2*time.Second)
			ctx := context.Background()
			first, err := invariants.NewFixture(ctx, c.pool, wattfare.USD(5), wattfare.USD(10))
			if err != nil {
				t.Fatal(err)
			}
			users := []*user{{Fixture: first, secret: first.SecretKey}}
			for range 5 {
				u, err := first.NewUser(ctx, c.pool, wattfare.USD(5), wattfare.USD(10))
				if err != nil {
					t.Fatal(err)
				}
				users = append(users, &user{Fixture: u, secret: first.SecretKey})
			}
			// Different paces, so that the kill finds each stream at another point.
			plan := []cutStream{
				{users[0], "sandbox/pricey", 40, false, 1, 400},
				{users[1], "sandbox/pricey", 20, true, 3, 400},
				{users[2], "sandbox/echo", 10, false, 10, 400},
				{users[3], "sandbox/pricey", 5, true, 20, 400},
				{users[4], "sandbox/echo", 30, false, 30, 400},
				{users[5], "sandbox/pricey", 15, true, 60, 400},
			}
			// A stream on the survivor, which must complete and be charged in full.
			survivor := c.openStream(c.procs[1], users[0], "sandbox/pricey", 100, 5, 100, false)
			k := c.openAndKill(c.procs[0], plan)
			if how == "RestartSameID" {
				c.start(c.procs[0])
			} // else: procs[1] adopts the dead run's spool (every AdoptInterval).
			bad, delivered := k.violations(c.ttl + 15*time.Second)
			if delivered < 4 {
				c.fatalf("only %d streams received tokens before the kill", delivered)
			}
			<-survivor.done
			if !survivor.ended || survivor.status != 200 {
				t.Errorf("the stream on the surviving process: status %d, ended %v, err %v", survivor.status, survivor.ended, survivor.err)
			} else if got := c.charges([]string{survivor.reqID}, 10*time.Second); got[survivor.reqID] < wattfare.Price(1_000_000_000).Cost(3+100) {
				t.Errorf("the stream on the surviving process was charged %s for 100 tokens", money(got[survivor.reqID]))
			}
			for _, b := range bad {
				t.Error(b)
			}
			if how == "AdoptedByAnother" {
				c.start(c.procs[0])
			}
			c.check("the kill's replay")
			c.settleAll()
		})
	}
}
