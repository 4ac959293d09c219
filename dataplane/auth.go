package dataplane

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
)

// authenticate checks the secret key (checksum first: a malformed key never
// reaches the database), then its app; c.start (cfg.Now's) decides expiry.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, c *call) error {
	now := c.start
	auth := ctx.Request.Header.Peek("Authorization")
	tok, ok := bytes.CutPrefix(auth, []byte("Bearer "))
	if !ok || len(tok) != wattfare.SecretKeyLen {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "missing or malformed secret key: send Authorization: Bearer sk_…")
	}
	// Parsed in place: sk (its Mode views the header's bytes) does not
	// outlive this call.
	sk, err := wattfare.ParseSecretKey(b2s(tok))
	if err != nil {
		return err
	}
	c.keyHash = sha256.Sum256(tok)
	key, kid, found, err := s.cache.Key(ctx, &c.keyHash)
	if err != nil {
		return err
	}
	if !found || subtle.ConstantTimeCompare(key.SecretSHA256[:], c.keyHash[:]) != 1 ||
		kid != sk.ID || key.Mode != sk.Mode {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "unknown secret key")
	}
	if !key.UsableAt(now) {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "this secret key was revoked or has expired")
	}
	c.key = key
	app, found, err := s.cache.App(ctx, key.AppID)
	if err != nil {
		return err
	}
	if !found {
		return wattfare.Errorf(wattfare.EInvalidAPIKey, "unknown secret key")
	}
	if app.SuspendedAt != nil {
		return wattfare.Errorf(wattfare.EAppSuspended, "this app is suspended")
	}
	c.app = app
	return nil
}

// connect resolves the payer from the Wattfare-User header.
func (s *Server) connect(ctx *fasthttp.RequestCtx, c *call) error {
	user := ctx.Request.Header.Peek(hdrUser)
	if len(user) == 0 {
		return &wattfare.Error{Code: wattfare.EInvalidRequest, Field: hdrUser,
			Message: "send the Wattfare-User header: your app's id for the user whose budget pays"}
	}
	if err := wattfare.CheckUserID(b2s(user)); err != nil {
		return &wattfare.Error{Code: wattfare.EInvalidRequest, Field: hdrUser,
			Message: "the Wattfare-User header is not a valid user id: " + strings.TrimPrefix(err.Error(), "invalid user id: ")}
	}
	// The header's bytes are viewed, not copied: the cache copies its key,
	// and the connection found carries the same user id.
	conn, found, err := s.cache.Connection(ctx, c.app.ID, c.key.Mode, b2s(user))
	if err != nil {
		return err
	}
	if !found {
		return &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected their AI budget to this app"}
	}
	if conn.Status != wattfare.ConnectionActive {
		return &wattfare.Error{Code: wattfare.EConnectionRevoked, Message: "this user revoked this app's access to their AI budget"}
	}
	c.conn = conn
	return nil
}

// hdrSimulated marks an answer of the sandbox rather than of a real model:
// every answer to a test key (each catalog model is simulated in test
// mode), and any answer of a sandbox model. It is set once the model is
// known, so errors after that (the simulation's own included) carry it too.
const hdrSimulated = "Wattfare-Simulated"

// simulateHeader is sandbox.SimulateHeader (the data plane does not import
// the sandbox's server): it asks the sandbox to answer in the name of a
// catalog model, within that model's context window.
const simulateHeader = "Wattfare-Simulate"

// sandboxUpstream is the upstream name of the sandbox's own models.
const sandboxUpstream = "sandbox"

// model finds the model a request names and the upstream that answers it
// for keys of mode (route).
func (s *Server) model(ctx *fasthttp.RequestCtx, id, kind string, mode wattfare.Mode) (*wattfare.Model, *Upstream, error) {
	ms, err := s.cache.Models(ctx)
	if err != nil {
		return nil, nil, err
	}
	m := ms.byID[id]
	if m == nil || !m.Enabled || m.Kind != kind {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q does not exist", id)}
	}
	m, u, simulated := s.route(m, mode)
	if u == nil {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q is not served here", id)}
	}
	if simulated {
		ctx.Response.Header.Set(hdrSimulated, "true")
	}
	return m, u, nil
}

// route returns the upstream that answers for catalog model m to keys of
// mode (nil when this process has none), the model as the call is to use
// it, and whether the answer is the sandbox's. Live keys get m's own
// upstream. Test keys get the sandbox: its own models as they are, and
// every other model simulated in that model's name, at its prices and
// within its limits (max_output_tokens through the hold, as for any model;
// the context window through simulateHeader), so that test mode runs the
// code live mode runs and test credit never buys real inference — unless
// TestModeAnyUpstream sends them to m's own upstream as well.
func (s *Server) route(m *wattfare.Model, mode wattfare.Mode) (*wattfare.Model, *Upstream, bool) {
	switch {
	case m.Upstream == sandboxUpstream:
		return m, s.upstreams[sandboxUpstream], true
	case mode == wattfare.ModeTest && !s.cfg.TestModeAnyUpstream:
		sim := s.simulation(m)
		if sim == nil {
			return m, nil, true
		}
		return &sim.model, sim.up, true
	}
	return m, s.upstreams[m.Upstream], false
}

// simulated is a catalog model as the sandbox simulates it.
type simulated struct {
	from  *wattfare.Model // the catalog entry it was made from
	model wattfare.Model  // from, asked of the sandbox by its catalog id
	up    *Upstream       // the sandbox, told from's context window
}

// simulation returns the simulation of m, made once per catalog entry (a
// catalog reload makes new entries, and so new simulations); nil without
// a sandbox.
func (s *Server) simulation(m *wattfare.Model) *simulated {
	if v, ok := s.sims.Load(m.ID); ok && v.(*simulated).from == m {
		return v.(*simulated)
	}
	sb := s.upstreams[sandboxUpstream]
	if sb == nil {
		return nil
	}
	sim := &simulated{from: m, model: *m, up: sb.simulating(m.ContextLength)}
	// The sandbox answers in the name it was asked for: the client sees
	// the id it sent in the answer's "model", as from the real upstream.
	sim.model.UpstreamModel = m.ID
	s.sims.Store(m.ID, sim)
	return sim
}

// admitRate applies the per-key and per-connection rate limits, answering
// 429 when one is over; now is cfg.Now's.
func (s *Server) admitRate(ctx *fasthttp.RequestCtx, c *call) bool {
	now := c.start
	src := ""
	ok, wait := s.keyRate.allow(c.key.ID, now)
	if !ok {
		src = "key_rate"
	} else if ok, wait = s.connRate.allow(c.conn.ID, now); !ok {
		src = "connection_rate"
	}
	if ok {
		return true
	}
	secs := int(wait/time.Second) + 1
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(secs))
	s.fail(ctx, &wattfare.Error{Code: wattfare.ERateLimited, Message: "too many requests; retry after " + strconv.Itoa(secs) + " s",
		Metadata: map[string]any{"limit_source": src, "retry_after_seconds": secs}}, 0)
	return false
}
