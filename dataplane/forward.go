package dataplane

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// proxy serves a chat or embeddings request; now is when Handle read the
// clock (time.Now).
func (s *Server) proxy(ctx *fasthttp.RequestCtx, reqID, endpoint string, now time.Time) {
	// One allocation for the call.
	c := &call{s: s, id: reqID, endpoint: endpoint, start: s.requestTime(now)}
	defer s.metrics.servedCall(ctx, c)
	if err := s.authenticate(ctx, c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if err := s.connect(ctx, c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if !s.admitRate(ctx, c) {
		return
	}
	if enc := ctx.Request.Header.Peek(fasthttp.HeaderContentEncoding); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		s.fail(ctx, invalid("Content-Encoding", "send the request body uncompressed (Content-Encoding "+string(enc)+" is not accepted)"), 0)
		return
	}
	body := ctx.Request.Body()
	var err error
	kind := "chat"
	if endpoint == "chat" {
		c.req, err = ParseChatRequest(body)
	} else if endpoint == "responses" {
		c.req, err = ParseResponsesRequest(body)
	} else {
		kind = "embedding"
		c.req, err = ParseEmbeddingsRequest(body)
		c.req.Stream = false
	}
	if err != nil {
		s.fail(ctx, toError(err), 0)
		return
	}
	c.model, c.up, err = s.model(ctx, c.req.Model, kind, c.key.Mode)
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if e := c.checkUpstreamKey(ctx); e != nil {
		s.fail(ctx, e, 0)
		return
	}

	m := c.model
	c.quote = spend.Quote{Prompt: m.PromptPrice.Cost(c.req.PromptEstimate)}
	if kind == "chat" {
		c.quote.OutputPrice = m.CompletionPrice
		c.quote.Choices = c.req.Choices
		c.quote.Stream = c.req.Stream
		c.quote.MaxOutput = int64(m.MaxOutputTokens)
		if c.req.MaxTokens > 0 {
			c.quote.ClientLimit = true
			if c.quote.MaxOutput <= 0 || c.req.MaxTokens < c.quote.MaxOutput {
				c.quote.MaxOutput = c.req.MaxTokens
			}
		}
	}
	payer := c.payer()
	c.hold, err = s.cfg.Spend.Admit(ctx, payer, spend.Admission{RequestID: reqID, Quote: c.quote, At: c.start})
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	var limit int64
	if kind == "chat" {
		if limit = c.quote.OutputLimit(c.hold.Amount()); limit < 1 && c.quote.MaxOutput > 0 {
			c.hold.Release()
			s.fail(ctx, wattfare.Errorf(wattfare.ECapReached, "the budget left cannot cover this request"), 0)
			return
		}
	}
	if rem, ok := s.cfg.Spend.Remaining(ctx, payer, now); ok {
		var b [24]byte
		ctx.Response.Header.SetBytesV(hdrRemaining, rem.AppendDecimal(b[:0]))
	}
	c.sent = bodyPool.Get()
	out, err := Rewrite(c.sent, body, &c.req, m.UpstreamModel, limit)
	if err != nil {
		bodyPool.Put(c.sent)
		c.hold.Release()
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	s.transport.calls.add(c)
	c.watch()
	c.forward(ctx, out)
}

// forward sends the request upstream and writes the response (or arranges
// for the stream to be written after the handler returns).
func (c *call) forward(ctx *fasthttp.RequestCtx, body []byte) {
	req := c.upstreamRequest(body)
	resp := fasthttp.AcquireResponse()
	var err error
	for attempt := 0; ; attempt++ {
		resp.StreamBody = c.req.Stream
		err = c.up.client.Do(req, resp)
		// Retry once, and only before the first byte: a stale pooled
		// connection or a refused dial, never an answer.
		if err == nil || attempt > 0 || c.killed.Load() || c.gotByte.Load() || isTimeout(err) {
			break
		}
		resp.Reset()
	}
	fasthttp.ReleaseRequest(req)
	bodyPool.Put(c.sent) // the request, its body included, is written
	c.sent = nil
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if !c.req.Stream && c.gotByte.Load() {
			c.failAfterUpstream(ctx, err) // a whole answer broke off
			return
		}
		c.failBeforeFirstByte(ctx, err)
		return
	}
	status := resp.StatusCode()
	if status != fasthttp.StatusOK {
		c.upstreamStatus(ctx, resp, status)
		return
	}
	if gid := resp.Header.Peek(hdrGenID); len(gid) > 0 {
		ctx.Response.Header.SetBytesV(hdrGenID, gid)
	}
	if c.req.Stream && bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
		ctx.Response.Header.SetContentType("text/event-stream")
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.Response.Header.Set("X-Accel-Buffering", "no")
		ctx.SetBodyStream(newStreamBody(c, resp, ctx.Conn()), -1)
		return
	}
	c.whole(ctx, resp)
}

// whole handles a non-streamed answer: read it, settle, then write it. The
// upstream's usage is read only from a body that claims to be JSON; any
// other body is charged by its size (a token per byte at most). An answer
// that costs more than the budget left is withheld: the client gets
// cap_reached, not a reply worth more than its cap.
func (c *call) whole(ctx *fasthttp.RequestCtx, resp *fasthttp.Response) {
	defer fasthttp.ReleaseResponse(resp)
	buf := bodyPool.Get()
	defer bodyPool.Put(buf)
	body, err := readAll(resp, buf)
	if err != nil {
		c.failAfterUpstream(ctx, err)
		return
	}
	if enc := resp.Header.ContentEncoding(); len(enc) > 0 && !bytes.EqualFold(enc, identity) {
		// Asked for identity, sent compressed: meter (and pass on) what
		// the bytes decode to.
		if body, err = resp.BodyUncompressed(); err != nil {
			c.failAfterUpstream(ctx, err)
			return
		}
	}
	var u streamUsage
	if isJSON(resp.Header.ContentType()) && gjson.ValidBytes(body) {
		c.meterWhole(body, &u)
	} else {
		u.Counted = int64(len(body))
	}
	if !c.settleOr(&u, "ok", "withheld") {
		c.finish()
		c.s.fail(ctx, wattfare.Errorf(wattfare.ECapReached, "the model's answer cost more than the budget left"), 0)
		return
	}
	c.finish()
	ctx.SetContentTypeBytes(resp.Header.ContentType())
	ctx.SetBody(body) // copies: buf goes back to the pool
	ctx.SetWriteDeadline(c.settledAt.Add(c.s.cfg.ClientIdleTimeout))
}

func isJSON(ct []byte) bool {
	mt, _, _ := bytes.Cut(ct, []byte(";"))
	mt = bytes.TrimSpace(mt)
	return bytes.EqualFold(mt, []byte("application/json")) ||
		bytes.HasPrefix(mt, []byte("application/")) && bytes.HasSuffix(mt, []byte("+json"))
}

// meterWhole reads a whole chat or embeddings answer: its usage, its id,
// and, for the case it has no usage, a count of what its choices carry.
func meterWhole(body []byte, u *streamUsage) {
	var choices gjson.Result
	gjson.Parse(b2s(body)).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "usage":
			if v.IsObject() {
				readUsage(v, u)
			}
		case "id":
			u.UpstreamID = strings.Clone(v.Str)
		case "choices":
			choices = v
		}
		return true
	})
	if u.HaveUsage {
		return // what is counted is charged only when there is no usage
	}
	choices.ForEach(func(_, ch gjson.Result) bool {
		u.Counted += countOutput(ch.Get("message"))
		return true
	})
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

func (c *call) failBeforeFirstByte(ctx *fasthttp.RequestCtx, err error) {
	var u streamUsage
	if c.killed.Load() {
		// The payer was revoked while the upstream worked: charge the
		// prompt, which surely reached it.
		c.settle(&u, "revoked")
		c.finish()
		c.s.fail(ctx, c.killError(), 0)
		return
	}
	if !c.gotByte.Load() && isDialError(err) {
		c.release() // nothing reached the upstream
	} else {
		c.settle(&u, "upstream_error")
		c.finish()
	}
	if isTimeout(err) {
		c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream did not answer in time"), 0)
		return
	}
	c.s.log.Warn("dataplane: upstream", "upstream", c.up.Name, "err", err)
	c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream failed before answering"), 0)
}

func (c *call) failAfterUpstream(ctx *fasthttp.RequestCtx, err error) {
	var u streamUsage
	if c.killed.Load() {
		c.settle(&u, "revoked")
		c.finish()
		c.s.fail(ctx, c.killError(), 0)
		return
	}
	c.settle(&u, "upstream_error")
	c.finish()
	if isTimeout(err) {
		c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream stopped answering"), 0)
		return
	}
	c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "the model's upstream failed while answering"), 0)
}

// upstreamStatus answers for an upstream that refused the request. Its own
// validation errors (400, 404, 413, 422) pass through as they came, OpenAI
// envelope and all; its rate limits become ours; anything about the
// upstream's own credentials or credit (401, 402, 403) and every 5xx is an
// upstream_error: the caller can do nothing about them.
func (c *call) upstreamStatus(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, status int) {
	defer fasthttp.ReleaseResponse(resp)
	buf := bodyPool.Get()
	defer bodyPool.Put(buf)
	body, _ := readAll(resp, buf)
	c.settle(&streamUsage{}, "upstream_error")
	c.finish()
	switch status {
	case 400, 404, 413, 422:
		ctx.SetStatusCode(status)
		ctx.SetContentTypeBytes(resp.Header.ContentType())
		ctx.SetBody(body)
	case 429:
		c.s.fail(ctx, wattfare.Errorf(wattfare.ERateLimited, "the model's upstream is rate limiting; retry shortly"), 0)
	case 408, 504:
		c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamTimeout, "the model's upstream timed out"), 0)
	default:
		if (status == 402 || status == 403) && c.onConnectionKey() {
			c.upstreamCapReached(ctx, status)
			return
		}
		msg := "the model's upstream failed before answering"
		if m := gjson.GetBytes(body, "error.message"); m.Type == gjson.String && status >= 500 {
			msg += ": " + truncate(m.Str, 200)
		}
		c.s.fail(ctx, wattfare.Errorf(wattfare.EUpstreamError, "%s (status %d)", msg, status), 0)
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
