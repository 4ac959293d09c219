package dataplane

import (
	"bytes"
	"context"
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

// model finds the model a request names, as this key's mode may use it.
func (s *Server) model(ctx context.Context, id, kind string, mode wattfare.Mode) (*wattfare.Model, *Upstream, error) {
	ms, err := s.cache.Models(ctx)
	if err != nil {
		return nil, nil, err
	}
	m := ms.byID[id]
	if m == nil || !m.Enabled || m.Kind != kind {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q does not exist", id)}
	}
	if s.testModeForbids(mode, m.Upstream) {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("test keys can call sandbox models only, not %q", id)}
	}
	u := s.upstreams[m.Upstream]
	if u == nil {
		return nil, nil, &wattfare.Error{Code: wattfare.EModelNotFound, Field: "model", Message: fmt.Sprintf("the model %q is not served here", id)}
	}
	return m, u, nil
}

// testModeForbids reports whether keys of mode may not call models of
// upstream: test mode is served by the sandbox only (unless
// TestModeAnyUpstream), so that test credit never buys real inference.
func (s *Server) testModeForbids(mode wattfare.Mode, upstream string) bool {
	return mode == wattfare.ModeTest && upstream != "sandbox" && !s.cfg.TestModeAnyUpstream
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
