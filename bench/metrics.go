package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// scrapeMetrics reads the data plane's /metrics every interval, as a
// Prometheus server would, until stop is called; n counts the scrapes.
func scrapeMetrics(addr string, every time.Duration, n *int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				bufio.NewReader(resp.Body).WriteTo(discard{})
				resp.Body.Close()
				atomic.AddInt64(n, 1)
			}
		}
	}()
	return func() { close(done); <-finished }
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// countedRequests sums the data plane's wattfare_data_requests_total.
func countedRequests(addr string) int64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "wattfare_data_requests_total{") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			sum += v
		}
	}
	return int64(sum)
}
