package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is what the load generator sends to: the upstream direct, the
// reference or the data plane. pid is 0 for the upstream, which runs in
// this process.
type target struct {
	name    string
	addr    string
	pid     int
	headers map[string]string
}

func (t *target) client(conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: t.addr, MaxConns: conns, StreamResponseBody: true, MaxConnWaitTimeout: 10 * time.Second, ReadBufferSize: 16 << 10}
}

func (t *target) request(stream bool, extra string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + t.addr + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	s := ""
	if stream {
		s = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	req.SetBodyString(`{"model":"sandbox/echo","max_tokens":200,"messages":[{"role":"user","content":"benchmark prompt ` + extra + `"}]` + s + `}`)
	return req
}

// closedLoop runs conns workers sending requests back to back for d and
// returns completed requests, SSE events read, and the target's CPU seconds.
func closedLoop(t *target, conns int, d time.Duration, stream bool) (n, events int64, cpu float64, errs int64) {
	c := t.client(conns)
	stop := time.Now().Add(d)
	before := cpuTicks(t.pid)
	var wg sync.WaitGroup
	var total, evs, fails atomic.Int64
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for time.Now().Before(stop) {
				req := t.request(stream, "")
				resp := fasthttp.AcquireResponse()
				err := c.Do(req, resp)
				if err == nil && resp.StatusCode() == 200 {
					if r := resp.BodyStream(); r != nil {
						var e int64
						for {
							k, rerr := r.Read(buf)
							e += int64(bytes.Count(buf[:k], []byte("data: ")))
							if rerr != nil {
								break
							}
						}
						evs.Add(e)
					}
					total.Add(1)
				} else {
					fails.Add(1)
				}
				resp.CloseBodyStream()
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		}()
	}
	wg.Wait()
	cpu = float64(cpuTicks(t.pid)-before) / ticksPerSecond
	return total.Load(), evs.Load(), cpu, fails.Load()
}

// ttft opens total streams, at most streams at a time, one every stagger,
// and returns each one's time to its first data event.
func ttft(t *target, streams, total int, slow bool, stagger time.Duration) ([]time.Duration, error) {
	c := t.client(streams + 8)
	var mu sync.Mutex
	var out []time.Duration
	var firstErr error
	sem := make(chan struct{}, streams)
	var wg sync.WaitGroup
	extra := ""
	if slow {
		extra = "bench-slow"
	}
	for i := 0; i < total; i++ {
		if stagger > 0 {
			time.Sleep(stagger)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req := t.request(true, extra)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			start := time.Now()
			err := c.Do(req, resp)
			var first time.Duration
			if err == nil {
				buf := make([]byte, 4096)
				r := resp.BodyStream()
				for r != nil {
					k, rerr := r.Read(buf)
					if first == 0 && bytes.Contains(buf[:k], []byte("data: ")) {
						first = time.Since(start)
					}
					if rerr != nil {
						break
					}
				}
				resp.CloseBodyStream()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || first == 0 {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s stream: %v (status %d)", t.name, err, resp.StatusCode())
				}
				return
			}
			out = append(out, first)
		}()
	}
	wg.Wait()
	return out, firstErr
}

// openLoop sends rate requests per second for d and returns their latencies.
func openLoop(t *target, rate int, d time.Duration) []time.Duration {
	c := t.client(512)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		next := start.Add(time.Duration(i) * interval)
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := t.request(false, "")
			resp := fasthttp.AcquireResponse()
			s := time.Now()
			err := c.Do(req, resp)
			if err == nil {
				if r := resp.BodyStream(); r != nil {
					io.Copy(io.Discard, r)
				}
			}
			l := time.Since(s)
			resp.CloseBodyStream()
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			if err == nil && resp.StatusCode() == 200 {
				mu.Lock()
				lat = append(lat, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat
}

// streamBytes returns one stream's bytes as the client reads them.
func streamBytes(t *target) []byte {
	c := t.client(1)
	req := t.request(true, "")
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.Do(req, resp); err != nil {
		return nil
	}
	b, _ := io.ReadAll(resp.BodyStream())
	resp.CloseBodyStream()
	return b
}

// tally adds up one proxy's closed-loop phases.
type tally struct {
	n, events, errs int64
	cpu             float64
}

func (t *tally) add(o tally) {
	t.n += o.n
	t.events += o.events
	t.errs += o.errs
	t.cpu += o.cpu
}

// phaseRuns is how many times each closed-loop phase runs.
const phaseRuns = 3

// abba runs closed loops of 64 connections in the order reference,
// wattfare, wattfare, reference, d/2 each, so that a drift in the machine's
// load falls on both alike. It also returns the Postgres CPU ticks spent
// during the data plane's phases.
func abba(ref, dp *target, d time.Duration, stream bool) (r, w tally, pgTicks int64) {
	for _, t := range []*target{ref, dp, dp, ref} {
		pg := postgresTicks()
		n, ev, cpu, errs := closedLoop(t, 64, d/2, stream)
		x := &r
		if t == dp {
			pgTicks += postgresTicks() - pg
			x = &w
		}
		x.n += n
		x.events += ev
		x.cpu += cpu
		x.errs += errs
	}
	return r, w, pgTicks
}
