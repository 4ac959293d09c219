package dataplane

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// memCatalog is a Catalog in memory, for benchmarks of the hot path.
type memCatalog struct {
	key  wattfare.APIKey
	app  wattfare.App
	conn wattfare.Connection
}

func (m *memCatalog) KeyBySecretHash(_ context.Context, h [32]byte) (wattfare.APIKey, error) {
	if h != m.key.SecretSHA256 {
		return wattfare.APIKey{}, wattfare.Errorf(wattfare.ENOTFOUND, "no key")
	}
	return m.key, nil
}
func (m *memCatalog) App(context.Context, string) (wattfare.App, error) { return m.app, nil }
func (m *memCatalog) Connection(_ context.Context, _ string, _ wattfare.Mode, u string) (wattfare.Connection, error) {
	if u != m.conn.AppUserID {
		return wattfare.Connection{}, wattfare.Errorf(wattfare.ENOTFOUND, "no connection")
	}
	return m.conn, nil
}
func (m *memCatalog) Models(context.Context) ([]wattfare.Model, error) {
	return []wattfare.Model{{ID: "sandbox/echo", Upstream: "sandbox", UpstreamModel: "sandbox/echo", Kind: "chat",
		PromptPrice: 1_000_000, CompletionPrice: 2_000_000, MaxOutputTokens: 4096, Enabled: true}}, nil
}

// freeSpender admits everything: the benchmark measures the proxy, not the
// ledger.
type freeSpender struct{ settled atomic.Int64 }

type freeHold struct {
	s      *freeSpender
	amount wattfare.Money
	done   chan struct{}
}

func (f *freeSpender) Admit(_ context.Context, _ spend.Payer, a spend.Admission) (Hold, error) {
	amount := a.Quote.Prompt + a.Quote.OutputPrice.Cost(a.Quote.MaxOutput*max(1, a.Quote.Choices))
	return &freeHold{s: f, amount: amount, done: neverDone}, nil
}
func (f *freeSpender) Budget(context.Context, spend.Payer) (wattfare.Budget, error) {
	return wattfare.Budget{Remaining: wattfare.USD(10)}, nil
}
func (f *freeSpender) Remaining(context.Context, spend.Payer, time.Time) (wattfare.Money, bool) {
	return wattfare.USD(10), true
}
func (f *freeSpender) Invalidate(wattfare.ChangeEvent) {}
func (f *freeSpender) Resync()                         {}

var neverDone = make(chan struct{})

func (h *freeHold) Amount() wattfare.Money      { return h.amount }
func (h *freeHold) Grow(to wattfare.Money) bool { h.amount = to; return true }
func (h *freeHold) Done() <-chan struct{}       { return h.done }
func (h *freeHold) Err() error                  { return nil }
func (h *freeHold) Settle(wattfare.Usage)       { h.s.settled.Add(1) }
func (h *freeHold) Release()                    {}
func (h *freeHold) OnDone(func()) func() bool   { return func() bool { return true } }
func (h *freeHold) Checkpoint(*wattfare.Usage)  {}

var (
	benchJSON   = []byte(`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}`)
	benchChunk  = []byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}],"usage":null}` + "\n\n")
	benchFinal  = []byte(`data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":20,"total_tokens":28}}` + "\n\ndata: [DONE]\n\n")
	benchStream = append(bytes.Repeat(benchChunk, 20), benchFinal...)
)

func benchServer(b *testing.B) (addr, key string, fs *freeSpender) {
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if bytes.Contains(ctx.PostBody(), []byte(`"stream":true`)) {
			ctx.SetContentType("text/event-stream")
			ctx.SetBody(benchStream)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(benchJSON)
	}}).Serve(up)
	b.Cleanup(func() { up.Close() })
	sk := wattfare.NewSecretKey(wattfare.ModeTest)
	cat := &memCatalog{
		key:  wattfare.APIKey{ID: sk.ID.String(), AppID: "app_x", Mode: wattfare.ModeTest, SecretSHA256: wattfare.HashSecretKey(sk.String())},
		app:  wattfare.App{ID: "app_x"},
		conn: wattfare.Connection{ID: "conn_x", AppID: "app_x", Mode: wattfare.ModeTest, AppUserID: "u1", MonthlyCap: wattfare.USD(10), Status: wattfare.ConnectionActive},
	}
	fs = &freeSpender{}
	s, err := New(Config{Catalog: cat, Spend: fs, Upstreams: []*Upstream{{Name: "sandbox", BaseURL: "http://" + up.Addr().String() + "/v1"}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String(), sk.String(), fs
}

func benchProxy(b *testing.B, stream bool) {
	addr, key, fs := benchServer(b)
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 64, StreamResponseBody: true}
	body := `{"model":"sandbox/echo","messages":[{"role":"user","content":"benchmark prompt"}]}`
	if stream {
		body = `{"model":"sandbox/echo","stream":true,"messages":[{"role":"user","content":"benchmark prompt"}]}`
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + addr + "/v1/chat/completions")
			req.Header.SetMethod("POST")
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Wattfare-User", "u1")
			req.SetBodyString(body)
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
			}
			if r := resp.BodyStream(); r != nil {
				io.Copy(io.Discard, r)
			}
			resp.CloseBodyStream()
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	})
	b.StopTimer()
	if fs.settled.Load() < int64(b.N) {
		b.Fatalf("settled %d of %d", fs.settled.Load(), b.N)
	}
}

// BenchmarkProxy measures a request through the proxy (client and mock
// upstream in the same process) on an in-memory catalog and spend engine.
func BenchmarkProxy(b *testing.B) {
	b.Run("NonStream", func(b *testing.B) { benchProxy(b, false) })
	b.Run("Stream", func(b *testing.B) { benchProxy(b, true) })
}

// BenchmarkMeterEvent measures the per-event cost of the SSE usage scanner.
func BenchmarkMeterEvent(b *testing.B) {
	b.ReportAllocs()
	var u streamUsage
	for b.Loop() {
		meterEvent(benchChunk, &u)
	}
}

// BenchmarkFrameEvent measures finding one event's end in the upstream's
// bytes (several events buffered, as a read returns them).
func BenchmarkFrameEvent(b *testing.B) {
	b.ReportAllocs()
	buf := bytes.Repeat(benchChunk, 8)
	for b.Loop() {
		for off := 0; off < len(buf); {
			k := nextEvent(buf[off:])
			if k == 0 {
				b.Fatal("no event")
			}
			off += k
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8), "ns/event")
}
