package dataplane

import (
	"context"
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
)

// The upstream backstop, on the data plane's side: an upstream with
// ConnectionKeys set (OpenRouter, with key management configured) is
// called with each live connection's own key, whose limit OpenRouter
// enforces at the connection's cap. The key arrives sealed with the
// connection from the catalog and is opened once per cache load
// (keyedCatalog), so a request pays nothing for it but a pointer.

// KeyOpener opens a sealed upstream key (internal/keyring's Keyring): aad
// is the connection id it was sealed for.
type KeyOpener interface {
	Open(sealed, aad []byte) ([]byte, error)
}

// keyedCatalog opens each connection's upstream key as it is loaded into
// the cache. The secret then lives only in the cached snapshot, as the
// Authorization value the upstream request sends.
type keyedCatalog struct {
	Catalog
	open KeyOpener
	log  *slog.Logger
}

func (k keyedCatalog) Connection(ctx context.Context, appID string, mode wattfare.Mode, appUserID string) (wattfare.Connection, error) {
	c, err := k.Catalog.Connection(ctx, appID, mode, appUserID)
	if err != nil || c.UpstreamKeySealed == nil {
		return c, err
	}
	secret, oerr := k.open.Open(c.UpstreamKeySealed, []byte(c.ID))
	c.UpstreamKeySealed = nil
	if oerr != nil {
		// Served as if unprovisioned (503): a key that does not open is a
		// configuration error (a rotated WATTFARE_ENCRYPTION_KEY missing
		// the old key), never a reason to fall back to a shared key.
		k.log.Error("alarm: a connection's upstream key does not open; check WATTFARE_ENCRYPTION_KEY", "connection_id", c.ID, "err", oerr)
		return c, nil
	}
	c.UpstreamAuth = append([]byte("Bearer "), secret...)
	clear(secret)
	return c, nil
}

// upstreamKeyRetryAfter is what a connection waiting for its key is told:
// the job that provisions it retries within seconds.
const upstreamKeyRetryAfter = "5"

// checkUpstreamKey refuses a live call on an upstream that takes
// per-connection keys when the connection has none yet (OpenRouter was
// down when it was approved): 503 unavailable with Retry-After, never the
// shared key, which has no ceiling.
func (c *call) checkUpstreamKey(ctx *fasthttp.RequestCtx) *wattfare.Error {
	if !c.up.ConnectionKeys || c.conn.Mode != wattfare.ModeLive || c.conn.UpstreamAuth != nil {
		return nil
	}
	ctx.Response.Header.Set("Retry-After", upstreamKeyRetryAfter)
	return &wattfare.Error{Code: wattfare.EUnavailable,
		Message:  "this connection's upstream key is being provisioned; retry shortly",
		Metadata: map[string]any{"limit_source": "upstream", "retry_after_seconds": 5}}
}

// upstreamAuth is the Authorization value of the call's upstream request:
// the connection's own key where the upstream takes them, else the
// upstream's.
func (c *call) upstreamAuth() []byte {
	if c.onConnectionKey() {
		return c.conn.UpstreamAuth
	}
	return c.up.auth
}

// onConnectionKey reports whether the call went upstream with its
// connection's own key.
func (c *call) onConnectionKey() bool { return c.up.ConnectionKeys && c.conn.UpstreamAuth != nil }

// upstreamCapReached answers OpenRouter's refusal of a connection's key at
// its limit (403 "Key limit exceeded", or 402) as the cap it is: typed
// cap_reached with limit_source "upstream". Wattfare's own engine should
// always refuse first, so each one is an alarm: spend got past the engine
// to the backstop.
func (c *call) upstreamCapReached(ctx *fasthttp.RequestCtx, status int) {
	c.s.log.Error("alarm: the upstream refused a connection's key at its limit; Wattfare's own cap did not stop the request",
		"connection_id", c.conn.ID, "upstream", c.up.Name, "status", status, "request_id", c.id)
	c.s.fail(ctx, &wattfare.Error{Code: wattfare.ECapReached,
		Message: "this app's monthly cap for this user is used up (enforced by the upstream)",
		Metadata: map[string]any{"limit_source": "upstream", "cap_usd": c.conn.MonthlyCap.String(),
			"resets_at": wattfare.PeriodEnd(c.start).Format("2006-01-02T15:04:05Z07:00")}}, 0)
}
