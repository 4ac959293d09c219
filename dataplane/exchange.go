package dataplane

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
)

// exchange is one admitted request on its way to the upstream and back. It
// resolves its hold exactly once: Release when nothing reached the
// upstream, Settle otherwise — before the response's last bytes are written,
// so a process killed after the client got its answer has already spooled
// the usage.
type exchange struct {
	s          *Server
	f          *flight
	hold       Hold
	model      *wattfare.Model
	up         *Upstream
	req        Request
	endpoint   string
	start      time.Time
	promptCost wattfare.Money
	resolved   bool
	settledAt  time.Time // cfg.Now when settle ran
}

func (ex *exchange) release() {
	if !ex.resolved {
		ex.resolved = true
		ex.hold.Release()
	}
	ex.s.flights.remove(ex.f)
}

// settle records usage once. The cost is the upstream's own figure when it
// gave one, else tokens × price; it never passes what the hold can grow to,
// so a cap is never overshot.
func (ex *exchange) settle(u *streamUsage, status string) {
	if ex.resolved {
		return
	}
	ex.resolved = true
	ex.settledAt = ex.s.cfg.Now()
	usage := wattfare.Usage{
		Model: ex.model.ID, Upstream: ex.up.Name, UpstreamID: u.UpstreamID,
		Endpoint: ex.endpoint, Stream: ex.req.Stream, Status: status,
		Duration: ex.settledAt.Sub(ex.start),
	}
	if u.HaveUsage {
		usage.PromptTokens, usage.CompletionTokens = u.PromptTokens, u.CompletionTokens
		usage.CachedTokens, usage.ReasoningTokens = u.CachedTokens, u.ReasoningTokens
	} else if status != "upstream_error" || u.Chunks > 0 {
		// No usage: charge what was counted, never zero.
		usage.PromptTokens, usage.CompletionTokens = ex.req.PromptEstimate, u.Chunks
	}
	if u.HaveCost {
		usage.Cost = u.Cost
	} else {
		usage.Cost = ex.model.PromptPrice.Cost(usage.PromptTokens) + ex.model.CompletionPrice.Cost(usage.CompletionTokens)
	}
	if usage.Cost > ex.hold.Amount() && !ex.hold.Grow(usage.Cost) {
		usage.Cost = ex.hold.Amount()
	}
	ex.hold.Settle(usage)
}

// costSoFar is what a stream has cost by now, from what was counted.
func (ex *exchange) costSoFar(u *streamUsage) wattfare.Money {
	if u.HaveUsage {
		if u.HaveCost {
			return u.Cost
		}
		return ex.model.PromptPrice.Cost(u.PromptTokens) + ex.model.CompletionPrice.Cost(u.CompletionTokens)
	}
	return ex.promptCost + ex.model.CompletionPrice.Cost(u.Chunks)
}

func (ex *exchange) newRequest(body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	if ex.endpoint == "chat" {
		req.SetURI(&ex.up.chatURL)
	} else {
		req.SetURI(&ex.up.embedURL)
	}
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if ex.req.Stream {
		req.Header.SetCanonical(hdrAcceptKey, acceptSSE)
	} else {
		req.Header.SetCanonical(hdrAcceptKey, acceptJSON)
	}
	if ex.up.auth != nil {
		req.Header.SetCanonical(hdrAuthKey, ex.up.auth)
	}
	for k, v := range ex.up.Headers {
		req.Header.Set(k, v)
	}
	req.Header.SetCanonical(upstreamIDKey, s2b(ex.f.id))
	req.SetBodyRaw(body)
	return req
}

// Header names in canonical form, and fixed values, for SetCanonical.
var (
	hdrAcceptKey  = []byte("Accept")
	hdrAuthKey    = []byte("Authorization")
	upstreamIDKey = []byte(upstreamIDHeader)
	acceptSSE     = []byte("text/event-stream")
	acceptJSON    = []byte("application/json")
)

// s2b views s as bytes without copying; they must not be written.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// run forwards the request and writes the response (or arranges for the
// stream to be written after the handler returns).
func (ex *exchange) run(ctx *fasthttp.RequestCtx, body []byte) {
	req := ex.newRequest(body)
	resp := fasthttp.AcquireResponse()
	var err error
	for attempt := 0; ; attempt++ {
		resp.StreamBody = ex.req.Stream
		err = ex.up.client.Do(req, resp)
		// Retry once, and only before the first byte: a stale pooled
		// connection or a refused dial, never an answer.
		if err == nil || attempt > 0 || ex.f.killed.Load() || ex.f.gotByte.Load() || isTimeout(err) {
			break
		}
		resp.Reset()
	}
	fasthttp.ReleaseRequest(req)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if !ex.req.Stream && ex.f.gotByte.Load() {
			ex.failAfterUpstream(ctx, err) // a whole answer broke off
			return
		}
		ex.failBeforeFirstByte(ctx, err)
		return
	}
	status := resp.StatusCode()
	if status != fasthttp.StatusOK {
		ex.upstreamStatus(ctx, resp, status)
		return
	}
	if gid := resp.Header.Peek(hdrGenID); len(gid) > 0 {
		ctx.Response.Header.SetBytesV(hdrGenID, gid)
	}
	if ex.req.Stream && bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
		ctx.Response.Header.SetContentType("text/event-stream")
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.Response.Header.Set("X-Accel-Buffering", "no")
		sb := newStreamBody(ex, resp, ctx.Conn())
		ctx.SetBodyStream(sb, -1)
		return
	}
	ex.whole(ctx, resp)
}

// whole handles a non-streamed answer: read it, settle, then write it.
func (ex *exchange) whole(ctx *fasthttp.RequestCtx, resp *fasthttp.Response) {
	defer fasthttp.ReleaseResponse(resp)
	buf := bodyPool.Get()
	defer bodyPool.Put(buf)
	body, err := readAll(resp, buf)
	if err != nil {
		ex.failAfterUpstream(ctx, err)
		return
	}
	var u streamUsage
	var choices gjson.Result
	gjson.Parse(b2s(body)).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "usage":
			if v.IsObject() {
				readUsage(v, &u)
			}
		case "id":
			u.UpstreamID = strings.Clone(v.Str)
		case "choices":
			choices = v
		}
		return true
	})
	if !u.HaveUsage {
		// Count what came back: the words of each choice's message.
		choices.ForEach(func(_, c gjson.Result) bool {
			t := c.Get("message.content").Str
			u.Chunks += max(countWords(t), int64(len(t)+3)/4)
			return true
		})
	}
	ex.settle(&u, "ok")
	ex.s.flights.remove(ex.f)
	ctx.SetContentTypeBytes(resp.Header.ContentType())
	ctx.SetBody(body)  // copies: buf goes back to the pool
	at := ex.settledAt // read just above, by settle
	if at.IsZero() {
		at = ex.s.cfg.Now()
	}
	ctx.SetWriteDeadline(at.Add(ex.s.cfg.ClientIdleTimeout))
}

var bodyPool bytebufferpool.Pool

// maxUpstreamBody bounds a non-streamed upstream answer; 64 MiB is far past
// any real one.
const maxUpstreamBody = 64 << 20

// readAll returns an upstream body whole: resp's own when it was read
// whole, else the streamed body read into buf.
func readAll(resp *fasthttp.Response, buf *bytebufferpool.ByteBuffer) ([]byte, error) {
	r := resp.BodyStream()
	if r == nil {
		return resp.Body(), nil
	}
	b := buf.B[:0]
	var err error
	for len(b) < maxUpstreamBody {
		if len(b) == cap(b) {
			b = slices.Grow(b, max(4096, len(b)))
		}
		var n int
		n, err = r.Read(b[len(b):min(cap(b), maxUpstreamBody)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	buf.B = b
	resp.CloseBodyStream()
	return b, err
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (ex *exchange) failBeforeFirstByte(ctx *fasthttp.RequestCtx, err error) {
	var u streamUsage
	if ex.f.killed.Load() {
		// The payer was revoked while the upstream worked: charge the
		// prompt, which surely reached it.
		ex.settle(&u, "revoked")
		ex.s.flights.remove(ex.f)
		ex.s.fail(ctx, ex.f.killError(), 0)
		return
	}
	if !ex.f.gotByte.Load() && isDialError(err) {
		ex.release() // nothing reached the upstream
	} else {
		ex.settle(&u, "upstream_error")
		ex.s.flights.remove(ex.f)
	}
	if isTimeout(err) {
		ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream did not answer in time"), 0)
		return
	}
	ex.s.log.Warn("dataplane: upstream", "upstream", ex.up.Name, "err", err)
	ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream failed before answering"), 0)
}

func (ex *exchange) failAfterUpstream(ctx *fasthttp.RequestCtx, err error) {
	var u streamUsage
	if ex.f.killed.Load() {
		ex.settle(&u, "revoked")
		ex.s.flights.remove(ex.f)
		ex.s.fail(ctx, ex.f.killError(), 0)
		return
	}
	ex.settle(&u, "upstream_error")
	ex.s.flights.remove(ex.f)
	if isTimeout(err) {
		ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream stopped answering"), 0)
		return
	}
	ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream failed while answering"), 0)
}

// upstreamStatus answers for an upstream that refused the request. Its own
// validation errors (400, 404, 413, 422) pass through as they came, OpenAI
// envelope and all; its rate limits become ours; anything about the
// upstream's own credentials or credit (401, 402, 403) and every 5xx is an
// upstream_error: the caller can do nothing about them.
func (ex *exchange) upstreamStatus(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, status int) {
	defer fasthttp.ReleaseResponse(resp)
	buf := bodyPool.Get()
	defer bodyPool.Put(buf)
	body, _ := readAll(resp, buf)
	ex.settle(&streamUsage{}, "upstream_error")
	ex.s.flights.remove(ex.f)
	switch status {
	case 400, 404, 413, 422:
		ctx.SetStatusCode(status)
		ctx.SetContentTypeBytes(resp.Header.ContentType())
		ctx.SetBody(body)
	case 429:
		ex.s.fail(ctx, wattfare.Errorf(wattfare.ERateLimited, "the model's upstream is rate limiting; retry shortly"), 0)
	case 408, 504:
		ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream timed out"), 0)
	default:
		msg := "the model's upstream failed before answering"
		if m := gjson.GetBytes(body, "error.message"); m.Type == gjson.String && status >= 500 {
			msg += ": " + truncate(m.Str, 200)
		}
		ex.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "%s (status %d)", msg, status), 0)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" || errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, fasthttp.ErrDialTimeout)
}

// streamBody is the response body of a stream: fasthttp's server reads it
// after the handler returned and writes each Read as a chunk, flushed. It
// frames the upstream's bytes into events, meters them, withholds the usage
// chunk the client did not ask for, settles before passing data: [DONE]
// through, and ends the stream with a typed error event when it must.
type streamBody struct {
	ex       *exchange
	resp     *fasthttp.Response
	up       io.Reader
	conn     net.Conn
	buf      []byte // upstream bytes not yet framed start at buf[off:]
	off      int
	out      []byte // framed bytes for the client
	outBuf   []byte
	usage    streamUsage
	err      error
	finished bool // nothing more comes from the upstream
	eof      bool // the upstream body was read to its end
	lastWD   time.Time
	// bufp and outBufp are buf's and outBuf's holders from bufPool: they
	// go back to it, so that returning a buffer does not allocate one.
	bufp, outBufp *[]byte
}

// bufPool holds the framing buffers of streams: two per open stream, grown
// only for events larger than this.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func newStreamBody(ex *exchange, resp *fasthttp.Response, conn net.Conn) *streamBody {
	sb := &streamBody{ex: ex, resp: resp, up: resp.BodyStream(), conn: conn}
	sb.bufp, sb.outBufp = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	sb.buf, sb.outBuf = (*sb.bufp)[:0], (*sb.outBufp)[:0]
	return sb
}

const maxEventBytes = 4 << 20

func (sb *streamBody) Read(p []byte) (int, error) {
	for {
		if len(sb.out) > 0 {
			n := copy(p, sb.out)
			sb.out = sb.out[n:]
			sb.renewWriteDeadline()
			return n, nil
		}
		if sb.finished {
			return 0, io.EOF
		}
		if sb.ex.f.killed.Load() {
			sb.end(sb.ex.f.killError(), "revoked")
			continue
		}
		if sb.frame() {
			continue
		}
		if sb.err != nil {
			sb.upstreamEnded(sb.err)
			continue
		}
		// Read more from the upstream.
		if len(sb.buf) == cap(sb.buf) {
			if sb.off > 0 {
				n := copy(sb.buf, sb.buf[sb.off:])
				sb.buf, sb.off = sb.buf[:n], 0
			} else if cap(sb.buf) < maxEventBytes {
				sb.buf = append(sb.buf, make([]byte, cap(sb.buf))...)[:len(sb.buf)]
			} else {
				sb.end(wattfare.Errorf(wattfare.EUpstreamError, "the upstream sent an event over %d bytes", maxEventBytes), "upstream_error")
				continue
			}
		}
		n, err := sb.up.Read(sb.buf[len(sb.buf):cap(sb.buf)])
		sb.buf = sb.buf[:len(sb.buf)+n]
		sb.err = err // handled once what came with it is framed
	}
}

// frame moves complete events from buf to out. It reports whether there is
// anything to send or the stream finished.
func (sb *streamBody) frame() bool {
	ex := sb.ex
	sb.outBuf = sb.outBuf[:0]
	for !sb.finished {
		k := nextEvent(sb.buf[sb.off:])
		if k == 0 {
			break
		}
		ev := sb.buf[sb.off : sb.off+k]
		sb.off += k
		kind := meterEvent(ev, &sb.usage)
		if cost := ex.costSoFar(&sb.usage); cost > ex.hold.Amount() {
			// Ask for room for 256 more tokens; settle for the cost so far.
			if !ex.hold.Grow(cost+ex.model.CompletionPrice.Cost(256)) && !ex.hold.Grow(cost) {
				sb.cut()
				break
			}
		}
		switch kind {
		case eventPass:
			sb.outBuf = append(sb.outBuf, ev...)
		case eventUsageOnly:
			if ex.req.IncludeUsage {
				sb.outBuf = append(sb.outBuf, ev...)
			}
		case eventDone:
			ex.settle(&sb.usage, "ok")
			sb.outBuf = append(sb.outBuf, ev...)
			sb.finished = true
		case eventError:
			ex.settle(&sb.usage, "upstream_error")
			sb.outBuf = append(sb.outBuf, ev...)
			sb.finished = true
		}
	}
	if sb.off == len(sb.buf) {
		sb.buf, sb.off = sb.buf[:0], 0
	}
	sb.out = sb.outBuf
	return len(sb.out) > 0 || sb.finished
}

// cut ends a stream whose hold cannot grow: a final cap_reached event.
func (sb *streamBody) cut() {
	ex := sb.ex
	ex.settle(&sb.usage, "cut")
	sb.outBuf = append(sb.outBuf, ex.s.errorEvent(wattfare.Errorf(wattfare.ECapReached, "the budget for this request ran out mid-stream"))...)
	sb.finished = true
}

// end finishes the stream with a typed error event after the first byte.
func (sb *streamBody) end(e *wattfare.Error, status string) {
	sb.ex.settle(&sb.usage, status)
	sb.out = append(sb.outBuf[:0], sb.ex.s.errorEvent(e)...)
	sb.outBuf = sb.out
	sb.finished = true
}

func (sb *streamBody) upstreamEnded(err error) {
	ex := sb.ex
	switch {
	case ex.f.killed.Load():
		sb.end(ex.f.killError(), "revoked")
	case err == io.EOF && sb.usage.Finished && sb.usage.HaveUsage:
		// Ended without data: [DONE] but complete.
		sb.eof = true
		ex.settle(&sb.usage, "ok")
		sb.out, sb.finished = nil, true
	case err == io.EOF:
		sb.eof = true
		sb.end(wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream ended the stream early"), "upstream_error")
	case isTimeout(err):
		sb.end(wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream stopped sending"), "upstream_error")
	default:
		sb.end(wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream dropped the stream"), "upstream_error")
	}
}

// renewWriteDeadline bounds how long a slow client may take per chunk,
// without a syscall per chunk.
func (sb *streamBody) renewWriteDeadline() {
	if sb.conn == nil {
		return
	}
	now := time.Now()
	if now.Sub(sb.lastWD) > time.Second {
		sb.lastWD = now
		sb.conn.SetWriteDeadline(now.Add(sb.ex.s.cfg.ClientIdleTimeout))
	}
}

// CloseWithError is called by fasthttp's server when it stops writing the
// body: err is nil after a complete write, else the client went away.
func (sb *streamBody) CloseWithError(err error) error {
	ex := sb.ex
	// A client that left before the end is still charged for what was
	// generated (settle does nothing when the stream already settled).
	ex.settle(&sb.usage, "client_closed")
	if !sb.eof && sb.err != io.EOF && !sb.reachedEOF() {
		sb.resp.SetConnectionClose()
	}
	sb.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(sb.resp)
	ex.s.flights.remove(ex.f)
	*sb.bufp, *sb.outBufp = sb.buf[:0], sb.outBuf[:0]
	bufPool.Put(sb.bufp)
	bufPool.Put(sb.outBufp)
	sb.buf, sb.outBuf, sb.out, sb.resp, sb.up, sb.bufp, sb.outBufp = nil, nil, nil, nil, nil, nil, nil
	return nil
}

// reachedEOF drains a finished upstream body if it ends right away (the
// blank after data: [DONE]), so that its connection can be reused.
func (sb *streamBody) reachedEOF() bool {
	if !sb.finished || sb.ex.f.killed.Load() || sb.err != nil || sb.up == nil {
		return false
	}
	sb.ex.f.draining.Store(true)
	var one [1]byte
	n, err := sb.up.Read(one[:])
	return n == 0 && err == io.EOF
}
