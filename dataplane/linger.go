package dataplane

import (
	"time"

	"github.com/valyala/fasthttp"
)

// lingerOversizedBody reads and discards the rest of a request body that is
// over the limit, before the 413 is written and the connection closed.
//
// fasthttp refuses such a body as soon as it has read the headers. Closing a
// socket with unread input makes the kernel send a reset, and a client still
// writing its body then sees "broken pipe" or "connection reset" instead of
// our request_too_large error, or loses the response it had already
// received. Reading the rest first (what nginx calls a lingering close) lets
// every OpenAI client read the typed error. The drain is bounded by bytes,
// as nginx's is: only a declared length up to lingerFactor times the limit,
// for at most lingerMax in all (a slow machine needs seconds for 64 MiB), and
// it stops when the client pauses for lingerPause. Chunked or absurd bodies
// are cut at once.
func lingerOversizedBody(ctx *fasthttp.RequestCtx, limit int) {
	cl := ctx.Request.Header.ContentLength()
	if cl <= 0 || cl > lingerFactor*limit {
		return
	}
	conn := ctx.Conn()
	if conn == nil {
		return
	}
	deadline := time.Now().Add(lingerMax)
	buf := make([]byte, 32<<10)
	for read := 0; read < cl; {
		next := time.Now().Add(lingerPause)
		if next.After(deadline) {
			next = deadline
		}
		if conn.SetReadDeadline(next) != nil {
			break
		}
		n, err := conn.Read(buf)
		read += n
		if err != nil {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
}

// The lingering close's bounds: declared bodies up to lingerFactor times the
// limit are drained, for lingerMax at most, stopping at a pause of
// lingerPause.
const (
	lingerFactor = 16
	lingerMax    = 30 * time.Second
	lingerPause  = time.Second
)
