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
// every OpenAI client read the typed error. The drain is bounded: only a
// declared length up to 16 times the limit, at most 2 s in all, and it stops
// when the client pauses for 100 ms. Chunked or absurd bodies are cut at once.
func lingerOversizedBody(ctx *fasthttp.RequestCtx, limit int) {
	cl := ctx.Request.Header.ContentLength()
	if cl <= 0 || cl > 16*limit {
		return
	}
	conn := ctx.Conn()
	if conn == nil {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 32<<10)
	for read := 0; read < cl; {
		next := time.Now().Add(100 * time.Millisecond)
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
