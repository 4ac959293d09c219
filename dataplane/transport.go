package dataplane

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// transport wraps every upstream connection so that reads have first-byte
// and idle deadlines (fasthttp's own ReadTimeout would bound a whole stream)
// and so that the proxy can cut the connection of a request whose payer was
// revoked.
type transport struct {
	firstByte time.Duration
	idle      time.Duration
	calls     calls
}

var errCut = errors.New("upstream connection cut")

// dialer dials upstream connections. TLS is done here rather than by
// fasthttp so that upConn sits above it and sees the request in clear.
func (t *transport) dialer(useTLS bool, serverName string) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		c, err := fasthttp.DialTimeout(addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		if useTLS {
			tc := tls.Client(c, &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12})
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				c.Close()
				return nil, err
			}
			c.SetDeadline(time.Time{})
			c = tc
		}
		return &upConn{Conn: c, t: t}, nil
	}
}

// upConn is one upstream connection.
type upConn struct {
	net.Conn
	t *transport
	c atomic.Pointer[call] // the call it is serving, learned from the request's header

	// The read and write deadlines are moved only when they would come
	// within a quarter of their span, or when the span changes: resetting
	// a deadline on every read of a stream costs more than metering it.
	readSpan, writeSpan time.Duration
	readAt, writeAt     time.Time // when each deadline was last set
}

func (c *upConn) setReadDeadline(span time.Duration, now time.Time) {
	if span != c.readSpan || now.Sub(c.readAt) > span/4 {
		c.readSpan, c.readAt = span, now
		c.Conn.SetReadDeadline(now.Add(span))
	}
}

func (c *upConn) setWriteDeadline(span time.Duration, now time.Time) {
	if span != c.writeSpan || now.Sub(c.writeAt) > span/4 {
		c.writeSpan, c.writeAt = span, now
		c.Conn.SetWriteDeadline(now.Add(span))
	}
}

var idHeaderLine = []byte("\r\n" + upstreamIDHeader + ": ")

func (c *upConn) Write(p []byte) (int, error) {
	// A request starts with its request line; its header names the call.
	if f := c.c.Load(); (f == nil || f.ended.Load()) && len(p) > 5 && (bytes.HasPrefix(p, []byte("POST ")) || bytes.HasPrefix(p, []byte("GET "))) {
		if i := bytes.Index(p, idHeaderLine); i >= 0 {
			rest := p[i+len(idHeaderLine):]
			if j := bytes.IndexByte(rest, '\r'); j > 0 {
				if nf := c.t.calls.byRequestID(rest[:j]); nf != nil {
					c.c.Store(nf)
					nf.upconn.Store(c)
				}
			}
		}
	}
	c.setWriteDeadline(c.t.firstByte, time.Now())
	return c.Conn.Write(p)
}

func (c *upConn) Read(p []byte) (int, error) {
	f := c.c.Load()
	if f != nil && f.ended.Load() {
		f = nil
	}
	d := c.t.idle
	if f != nil {
		if f.killed.Load() {
			return 0, errCut
		}
		if !f.gotByte.Load() {
			d = c.t.firstByte
		} else if f.draining.Load() {
			d = 100 * time.Millisecond
		}
	}
	c.setReadDeadline(d, time.Now())
	if f != nil && f.killed.Load() { // a kill between the check and the deadline
		return 0, errCut
	}
	n, err := c.Conn.Read(p)
	if f != nil {
		if n > 0 && !f.gotByte.Load() {
			f.gotByte.Store(true)
		}
		if err != nil && f.killed.Load() {
			return n, errCut
		}
	}
	return n, err
}

// cut makes the connection's blocked and future reads fail at once. (Its
// reads check the call's kill flag before they set a deadline again.)
func (c *upConn) cut() { c.Conn.SetReadDeadline(time.Unix(1, 0)) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout)
}

// calls are the calls forwarded upstream and not yet finished, by request
// id: an upstream connection finds the call it serves here by the id in the
// request's header (upConn.Write), so that the call's kill can cut exactly
// that connection. A map under a mutex: a sync.Map allocated a node per
// request.
type calls struct {
	mu   sync.Mutex
	byID map[string]*call
}

func (cs *calls) add(c *call) {
	cs.mu.Lock()
	if cs.byID == nil {
		cs.byID = make(map[string]*call)
	}
	cs.byID[c.id] = c
	cs.mu.Unlock()
}

func (cs *calls) remove(c *call) {
	cs.mu.Lock()
	if cs.byID[c.id] == c {
		delete(cs.byID, c.id)
	}
	cs.mu.Unlock()
}

// byRequestID returns the call of the request with id, or nil.
func (cs *calls) byRequestID(id []byte) *call {
	cs.mu.Lock()
	c := cs.byID[string(id)]
	cs.mu.Unlock()
	return c
}

func (cs *calls) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.byID)
}
