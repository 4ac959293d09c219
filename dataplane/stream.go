package dataplane

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
)

// streamBody is the response body of a stream: fasthttp's server reads it
// after the handler returned and writes each Read as a chunk, flushed. It
// frames the upstream's bytes into events, meters each before it passes it
// on (growing the hold, or cutting the stream where the budget ends),
// withholds the usage chunk the client did not ask for, settles before
// passing data: [DONE] through, and ends the stream with a typed error event
// when it must.
type streamBody struct {
	c        *call
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
	sent     bool // the first bytes went to the client
	lastWD   time.Time
	// bufp and outBufp are buf's and outBuf's holders from bufPool: they
	// go back to it, so that returning a buffer does not allocate one.
	bufp, outBufp *[]byte
}

// bufPool holds the framing buffers of streams: two per open stream, grown
// only for events larger than this.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func newStreamBody(c *call, resp *fasthttp.Response, conn net.Conn) *streamBody {
	sb := &streamBody{c: c, resp: resp, up: resp.BodyStream(), conn: conn}
	if enc := resp.Header.ContentEncoding(); len(enc) > 0 && !bytes.EqualFold(enc, identity) {
		// Asked for identity, sent compressed: meter what it decodes to.
		sb.up = decodedStream(sb.up, enc)
	}
	sb.bufp, sb.outBufp = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	sb.buf, sb.outBuf = (*sb.bufp)[:0], (*sb.outBufp)[:0]
	return sb
}

const maxEventBytes = 4 << 20

// growTokens is how much room a stream's hold asks for beyond its cost so
// far each time it must grow.
const growTokens = 256

func (sb *streamBody) Read(p []byte) (int, error) {
	for {
		if len(sb.out) > 0 {
			n := copy(p, sb.out)
			sb.out = sb.out[n:]
			if !sb.sent {
				sb.sent = true
				sb.c.s.metrics.firstByte(sb.c)
			}
			sb.renewWriteDeadline()
			return n, nil
		}
		if sb.finished {
			return 0, io.EOF
		}
		if sb.c.killed.Load() {
			sb.end(sb.c.killError(), "revoked")
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

// frame moves complete events from buf to out, metering each before it is
// passed: an event whose cost the hold cannot grow to is not sent, and the
// stream ends there with cap_reached. It reports whether there is anything
// to send or the stream finished.
func (sb *streamBody) frame() bool {
	c := sb.c
	sb.outBuf = sb.outBuf[:0]
	metered := false
	for !sb.finished {
		k := nextEvent(sb.buf[sb.off:])
		if k == 0 {
			break
		}
		ev := sb.buf[sb.off : sb.off+k]
		sb.off += k
		kind := c.meterEvent(ev, &sb.usage)
		metered = true
		if cost := c.cost(&sb.usage); cost > c.hold.Amount() {
			// Ask for room for more tokens; settle for the cost so far.
			if !c.hold.Grow(cost+c.model.CompletionPrice.Cost(growTokens)) && !c.hold.Grow(cost) {
				sb.cut()
				break
			}
		}
		switch kind {
		case eventPass:
			sb.outBuf = append(sb.outBuf, ev...)
		case eventUsageOnly:
			if c.req.IncludeUsage {
				sb.outBuf = append(sb.outBuf, ev...)
			}
		case eventDone:
			c.settle(&sb.usage, "ok")
			sb.outBuf = append(sb.outBuf, ev...)
			sb.finished = true
		case eventError:
			c.settle(&sb.usage, "upstream_error")
			sb.outBuf = append(sb.outBuf, ev...)
			sb.finished = true
		}
	}
	if metered && !c.resolved {
		c.checkpoint(&sb.usage)
	}
	if sb.off == len(sb.buf) {
		sb.buf, sb.off = sb.buf[:0], 0
	}
	sb.out = sb.outBuf
	return len(sb.out) > 0 || sb.finished
}

// cut ends a stream whose hold cannot grow: a final cap_reached event.
func (sb *streamBody) cut() {
	c := sb.c
	c.settle(&sb.usage, "cut")
	sb.outBuf = append(sb.outBuf, c.errorEvent(wattfare.Errorf(wattfare.ECapReached, "the budget for this request ran out mid-stream"))...)
	sb.finished = true
}

// end finishes the stream with a typed error event after the first byte.
func (sb *streamBody) end(e *wattfare.Error, status string) {
	sb.c.settle(&sb.usage, status)
	sb.out = append(sb.outBuf[:0], sb.c.errorEvent(e)...)
	sb.outBuf = sb.out
	sb.finished = true
}

func (sb *streamBody) upstreamEnded(err error) {
	c := sb.c
	switch {
	case c.killed.Load():
		sb.end(c.killError(), "revoked")
	case err == io.EOF && sb.usage.Finished && sb.usage.HaveUsage:
		// Ended without data: [DONE] but complete.
		sb.eof = true
		c.settle(&sb.usage, "ok")
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
		sb.conn.SetWriteDeadline(now.Add(sb.c.s.cfg.ClientIdleTimeout))
	}
}

// CloseWithError is called by fasthttp's server when it stops writing the
// body: err is nil after a complete write, else the client went away.
func (sb *streamBody) CloseWithError(err error) error {
	c := sb.c
	// A client that left before the end is still charged for what was
	// generated (settle does nothing when the stream already settled).
	c.settle(&sb.usage, "client_closed")
	if !sb.eof && sb.err != io.EOF && !sb.reachedEOF() {
		sb.resp.SetConnectionClose()
	}
	sb.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(sb.resp)
	c.s.metrics.streamEnded(c)
	c.finish()
	*sb.bufp, *sb.outBufp = sb.buf[:0], sb.outBuf[:0]
	bufPool.Put(sb.bufp)
	bufPool.Put(sb.outBufp)
	sb.buf, sb.outBuf, sb.out, sb.resp, sb.up, sb.bufp, sb.outBufp = nil, nil, nil, nil, nil, nil, nil
	return nil
}

// reachedEOF drains a finished upstream body if it ends right away (the
// blank after data: [DONE]), so that its connection can be reused.
func (sb *streamBody) reachedEOF() bool {
	if !sb.finished || sb.c.killed.Load() || sb.err != nil || sb.up == nil {
		return false
	}
	sb.c.draining.Store(true)
	var one [1]byte
	n, err := sb.up.Read(one[:])
	return n == 0 && err == io.EOF
}

// decodedStream reads a compressed upstream stream as plain bytes: gzip
// and deflate as they arrive; any other coding fails the stream (it is
// never passed on unmetered).
func decodedStream(r io.Reader, enc []byte) io.Reader {
	switch {
	case bytes.EqualFold(enc, []byte("gzip")):
		return &lazyReader{open: func() (io.Reader, error) { return gzip.NewReader(r) }}
	case bytes.EqualFold(enc, []byte("deflate")):
		return flate.NewReader(r)
	}
	err := fmt.Errorf("the upstream sent a stream with Content-Encoding %q", enc)
	return &lazyReader{open: func() (io.Reader, error) { return nil, err }}
}

// lazyReader opens its reader on the first Read (a gzip header is read
// from the upstream then, not in the handler).
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil && l.err == nil {
		l.r, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.r.Read(p)
}
