package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// call is one API request, from authentication to settlement: who calls
// (key, app) and who pays (connection), what it asked for, the hold the
// spend engine admitted it on, and its exchange with the upstream. It
// resolves its hold exactly once: Release when nothing reached the
// upstream, Settle otherwise — before the response's last bytes are
// written, so a process killed after the client got its answer has already
// spooled the usage.
//
// A revocation ends a call through its hold alone: the engine closes the
// hold's Done when the connection, key or app may no longer spend, and the
// call's OnDone callback cuts its upstream connection (transport.go), so
// that a blocked read fails at once and the client gets a typed error.
type call struct {
	s        *Server
	id       string
	start    time.Time // cfg.Now's reading at arrival: decides expiry and the period
	endpoint string    // "chat", "responses" or "embeddings"

	// key, app and conn point into the catalog cache's snapshots (read only).
	key     *wattfare.APIKey
	keyHash [32]byte
	app     *wattfare.App
	conn    *wattfare.Connection

	req   Request
	model *wattfare.Model
	up    *Upstream
	quote spend.Quote
	hold  Hold
	sent  *bytebufferpool.ByteBuffer // the rewritten body, until it is sent
	ck    *wattfare.Usage            // the last checkpoint (kept: no allocation per frame), streams only

	stopWatch func() bool // cancels the hold's OnDone callback
	resolved  bool
	settledAt time.Time // cfg.Now when settle ran

	// Shared with the upstream connection serving the call (upConn).
	killed  atomic.Bool
	killErr atomic.Pointer[wattfare.Error]
	gotByte atomic.Bool
	ended   atomic.Bool
	// draining shortens the read deadline while the proxy checks whether a
	// finished stream's body ends at once, to keep its connection.
	draining atomic.Bool
	upconn   atomic.Pointer[upConn]
}

func (c *call) payer() spend.Payer {
	return spend.Payer{
		ConnectionID: c.conn.ID, AccountID: c.conn.AccountID, AppID: c.app.ID, KeyID: c.key.ID,
		AppUserID: c.conn.AppUserID, Mode: c.key.Mode, MonthlyCap: c.conn.MonthlyCap,
	}
}

// kill ends the call with err: its upstream reads fail from now on.
func (c *call) kill(err *wattfare.Error) {
	c.killErr.CompareAndSwap(nil, err)
	c.killed.Store(true)
	if uc := c.upconn.Load(); uc != nil && uc.c.Load() == c {
		uc.cut()
	}
}

// killError is why the call was killed.
func (c *call) killError() *wattfare.Error {
	if e := c.killErr.Load(); e != nil {
		return e
	}
	return wattfare.Errorf(wattfare.EConnectionRevoked, "the request was stopped")
}

// watch arranges for the hold's end to cut the call's upstream.
func (c *call) watch() {
	c.stopWatch = c.hold.OnDone(func() { c.kill(toError(c.hold.Err())) })
}

// finish is the call's last step, whatever its outcome: it stops watching
// the hold and unregisters the call from the transport.
func (c *call) finish() {
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	c.ended.Store(true)
	c.s.transport.calls.remove(c)
}

func (c *call) release() {
	if !c.resolved {
		c.resolved = true
		c.hold.Release()
	}
	c.finish()
}

// cost is what the call has cost so far, from the upstream's usage when it
// gave one, else from what was counted of the reply.
func (c *call) cost(u *streamUsage) wattfare.Money {
	if u.HaveUsage {
		if u.HaveCost {
			// The upstream's own figure (OpenRouter's usage.cost) is its
			// cost; users pay it with the catalog's markup.
			return c.model.Markup.Charge(u.Cost)
		}
		return c.model.PromptPrice.Cost(u.PromptTokens) + c.model.CompletionPrice.Cost(u.CompletionTokens)
	}
	return c.quote.Prompt + c.model.CompletionPrice.Cost(u.Counted)
}

// usage is the usage record of the call as it stands.
func (c *call) usage(u *streamUsage, status string) wattfare.Usage {
	usage := wattfare.Usage{
		Model: c.model.ID, Upstream: c.up.Name, UpstreamID: u.UpstreamID,
		Endpoint: c.endpoint, Stream: c.req.Stream, Status: status,
	}
	if u.HaveUsage {
		usage.PromptTokens, usage.CompletionTokens = u.PromptTokens, u.CompletionTokens
		usage.CachedTokens, usage.ReasoningTokens = u.CachedTokens, u.ReasoningTokens
	} else if status != "upstream_error" || u.Counted > 0 {
		// No usage: charge what was counted, never nothing.
		usage.PromptTokens, usage.CompletionTokens = c.req.PromptEstimate, u.Counted
	}
	usage.Cost = c.cost(u)
	if !u.HaveUsage && usage.CompletionTokens == 0 && status == "upstream_error" {
		usage.Cost = 0
	}
	return usage
}

// settle records the call's usage once, at its true cost: the engine charges
// it from the hold, from the lease's spare when it outgrew the hold, and
// beyond that only as far as the cap and the wallet allow; the ledger keeps
// the true cost beside what was charged (an overrun is visible, never
// hidden). It reports whether the hold covered the cost (false: the cost
// passed what the budget had left). When it did not and withheld is set
// (a whole answer, which the caller then does not pass on), the usage is
// recorded with that status instead.
func (c *call) settle(u *streamUsage, status string) bool { return c.settleOr(u, status, "") }

func (c *call) settleOr(u *streamUsage, status, withheld string) bool {
	if c.resolved {
		return true
	}
	c.resolved = true
	c.settledAt = c.s.cfg.Now()
	usage := c.usage(u, status)
	usage.Duration = c.settledAt.Sub(c.start)
	covered := usage.Cost <= c.hold.Amount() || c.hold.Grow(usage.Cost)
	if !covered && withheld != "" {
		usage.Status = withheld
	}
	c.hold.Settle(usage)
	c.s.metrics.Settled.Add(usage.Status, 1)
	return covered
}

// upstreamRequest builds the request to the upstream.
func (c *call) upstreamRequest(body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	switch c.endpoint {
	case "chat":
		req.SetURI(&c.up.chatURL)
	case "responses":
		req.SetURI(&c.up.responsesURL)
	default:
		req.SetURI(&c.up.embedURL)
	}
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if c.req.Stream {
		req.Header.SetCanonical(hdrAcceptKey, acceptSSE)
	} else {
		req.Header.SetCanonical(hdrAcceptKey, acceptJSON)
	}
	if auth := c.upstreamAuth(); auth != nil {
		req.Header.SetCanonical(hdrAuthKey, auth)
	}
	for k, v := range c.up.Headers {
		req.Header.Set(k, v)
	}
	req.Header.SetCanonical(hdrAcceptEncodingKey, identity) // metered bytes are plain bytes
	req.Header.SetCanonical(upstreamIDKey, s2b(c.id))
	req.SetBodyRaw(body)
	return req
}

// Header names in canonical form, and fixed values, for SetCanonical.
var (
	hdrAcceptKey         = []byte("Accept")
	hdrAuthKey           = []byte("Authorization")
	hdrAcceptEncodingKey = []byte("Accept-Encoding")
	identity             = []byte("identity")
	upstreamIDKey        = []byte(upstreamIDHeader)
	acceptSSE            = []byte("text/event-stream")
	acceptJSON           = []byte("application/json")
)

// checkpoint records what the stream has delivered so far with the hold,
// before the bytes leave the process.
func (c *call) checkpoint(u *streamUsage) {
	if c.ck == nil {
		c.ck = new(wattfare.Usage)
	}
	*c.ck = c.usage(u, wattfare.StatusInterrupted)
	c.hold.Checkpoint(c.ck)
}
