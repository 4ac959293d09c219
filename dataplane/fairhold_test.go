package dataplane_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wattfare/wattfare"
)

// TestFairHolds: a burst of requests without max_tokens, each costing about
// $0.10 on a model whose worst case is $4.10, from 16 clients, admits at
// least 95 % of what a $10 cap can pay for. (Holding each request's worst case admitted 84 of
// 300 and left 14 % of the cap unused.) Refusals say how much is held.
func TestFairHolds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.connect("burst", wattfare.USD(10))
	const requests, clients = 300, 16
	var ok, refused atomic.Int64
	var heldSeen atomic.Bool
	var wg sync.WaitGroup
	next := make(chan int, requests)
	for i := range requests {
		next <- i
	}
	close(next)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// 100 tokens at $1,000/M: $0.10 and a few prompt tokens.
				body := fmt.Sprintf(`{"model":"sandbox/pricey","messages":[{"role":"user","content":"[[sandbox:tokens=100]] burst %d"}]}`, i)
				resp, b := e.call("POST", "/v1/chat/completions", "burst", body)
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 402:
					refused.Add(1)
					var eb struct {
						Error struct {
							Code     string
							Metadata map[string]any
						}
					}
					json.Unmarshal(b, &eb)
					if _, has := eb.Error.Metadata["held_usd"]; has && eb.Error.Code == wattfare.ECapReached {
						heldSeen.Store(true)
					}
				default:
					t.Errorf("%d %s", resp.StatusCode, b)
				}
			}
		}()
	}
	wg.Wait()
	captured := e.captured("burst")
	t.Logf("admitted %d, refused %d, captured %s of 10.00", ok.Load(), refused.Load(), captured)
	// Each request costs a little over $0.10 (its prompt too): the cap
	// pays for about 97. What was admitted must spend 95 % of it.
	if captured < wattfare.USD(10)*95/100 {
		t.Errorf("admitted %d requests for %s of a $10 cap; want at least $9.50", ok.Load(), captured)
	}
	if captured > wattfare.USD(10) {
		t.Errorf("captured %s over the cap", captured)
	}
	if refused.Load() > 0 && !heldSeen.Load() {
		t.Errorf("no cap_reached refusal said held_usd")
	}
}
