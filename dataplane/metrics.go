package dataplane

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/metric"
)

// Metrics are the data plane's request figures, recorded on atomics by the
// request path (no lock, no label lookup, no allocation once a model has
// been seen) and read by an exporter when scraped (cmd/wattfare serves them
// to Prometheus). The model dimension is bounded: past maxModelSeries
// models, requests count under the model "other".
type Metrics struct {
	models  sync.Map // model id → *modelCounts
	nmodels atomic.Int64
	other   modelCounts // no model known (failed before it was), or past the bound

	latency [numEndpoints]*metric.Histogram // arrival → answer complete (non-stream) or stream end
	ttft    [numEndpoints]*metric.Histogram // arrival → first byte of a stream to the client

	// Refused counts answers with a budget or consent error, by the limit
	// that tripped (connection_cap, wallet, wallet_frozen, connection, app,
	// upstream…).
	Refused metric.Counters
	// Errors counts error answers (before the first byte) by code.
	Errors metric.Counters
	// Settled counts settled requests by usage status (ok, cut, revoked,
	// upstream_error, client_closed, withheld).
	Settled metric.Counters

	cacheHits, cacheMisses atomic.Uint64
}

// maxModelSeries bounds the model label.
const maxModelSeries = 1000

// Endpoints and status codes the request counters are kept for.
var (
	Endpoints   = [...]string{"chat", "embeddings", "responses", "models", "budget", "other"}
	StatusCodes = [...]int{200, 400, 401, 402, 403, 404, 405, 408, 409, 413, 422, 429, 499, 500, 502, 503, 504, 0}
)

const (
	numEndpoints = len(Endpoints)
	numStatuses  = len(StatusCodes) // the last (0) counts every other status
)

type modelCounts struct {
	n [numEndpoints][numStatuses]atomic.Uint64
}

func newMetrics() *Metrics {
	m := &Metrics{}
	for i := range m.latency {
		m.latency[i] = metric.NewLatency()
		m.ttft[i] = metric.NewLatency()
	}
	return m
}

func endpointIndex(endpoint string) int {
	for i, e := range Endpoints[:numEndpoints-1] {
		if e == endpoint {
			return i
		}
	}
	return numEndpoints - 1
}

func statusIndex(code int) int {
	for i, c := range StatusCodes[:numStatuses-1] {
		if c == code {
			return i
		}
	}
	return numStatuses - 1
}

func (m *Metrics) forModel(id string) *modelCounts {
	if v, ok := m.models.Load(id); ok {
		return v.(*modelCounts)
	}
	if m.nmodels.Load() >= maxModelSeries {
		return &m.other
	}
	v, loaded := m.models.LoadOrStore(id, new(modelCounts))
	if !loaded {
		m.nmodels.Add(1)
	}
	return v.(*modelCounts)
}

// served counts a request once its answer's status is known, and its
// latency from start unless noLatency (a stream still being written, whose
// end streamEnded records, or a server on a test's clock).
func (m *Metrics) served(endpoint string, model *wattfare.Model, status int, start time.Time, noLatency bool) {
	mc := &m.other
	if model != nil {
		mc = m.forModel(model.ID)
	}
	e := endpointIndex(endpoint)
	mc.n[e][statusIndex(status)].Add(1)
	if !noLatency {
		m.latency[e].ObserveDuration(time.Since(start))
	}
}

// servedCall counts a proxied call when its handler returns. Latencies are
// measured from c.start, which is time.Now's reading at arrival unless a
// test gave the server a clock of its own (then they are not recorded).
func (m *Metrics) servedCall(ctx *fasthttp.RequestCtx, c *call) {
	status := ctx.Response.StatusCode()
	m.served(c.endpoint, c.model, status, c.start, status == fasthttp.StatusOK && c.req.Stream || !c.s.realClock)
}

// firstByte records a stream's time to first byte.
func (m *Metrics) firstByte(c *call) {
	if c.s.realClock {
		m.ttft[endpointIndex(c.endpoint)].ObserveDuration(time.Since(c.start))
	}
}

// streamEnded records a stream's whole duration.
func (m *Metrics) streamEnded(c *call) {
	if c.s.realClock {
		m.latency[endpointIndex(c.endpoint)].ObserveDuration(time.Since(c.start))
	}
}

// failed counts an error answer.
func (m *Metrics) failed(e *wattfare.Error, info codeInfo) {
	m.Errors.Add(e.Code, 1)
	src := info.limitSource
	if s, ok := e.Metadata["limit_source"].(string); ok {
		src = s
	}
	if src != "" {
		m.Refused.Add(src, 1)
	}
}

// EachRequests calls f with the requests counted per model, endpoint and
// status (0: any status StatusCodes does not list); model is "other" for
// requests that named no known model.
func (m *Metrics) EachRequests(f func(model, endpoint string, status int, n uint64)) {
	each := func(model string, mc *modelCounts) {
		for e := range mc.n {
			for s := range mc.n[e] {
				if n := mc.n[e][s].Load(); n > 0 {
					f(model, Endpoints[e], StatusCodes[s], n)
				}
			}
		}
	}
	m.models.Range(func(k, v any) bool { each(k.(string), v.(*modelCounts)); return true })
	each(metric.Other, &m.other)
}

// Latency returns the latency histogram of an endpoint, and TTFT its
// time-to-first-token histogram (streams only).
func (m *Metrics) Latency(endpoint string) *metric.Histogram {
	return m.latency[endpointIndex(endpoint)]
}
func (m *Metrics) TTFT(endpoint string) *metric.Histogram { return m.ttft[endpointIndex(endpoint)] }

// Cache reports the catalog cache's hits and misses (key, app and
// connection lookups).
func (m *Metrics) Cache() (hits, misses uint64) { return m.cacheHits.Load(), m.cacheMisses.Load() }

// Metrics returns the server's request figures.
func (s *Server) Metrics() *Metrics { return s.metrics }
