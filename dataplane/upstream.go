package dataplane

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Upstream is a model server the proxy forwards to: the sandbox, OpenRouter
// or any OpenAI-compatible server. The models table's upstream column names
// it.
type Upstream struct {
	Name string
	// BaseURL is the API root that /chat/completions and /embeddings hang
	// off, OpenAI-SDK style: "https://openrouter.ai/api/v1",
	// "http://127.0.0.1:8790/v1".
	BaseURL string
	APIKey  string
	// MaxConns bounds the connections to this upstream (default 4096);
	// a request waits up to MaxConnWait (default 5 s) for one.
	MaxConns    int
	MaxConnWait time.Duration
	// Headers are added to every upstream request (OpenRouter's
	// HTTP-Referer and X-Title, for instance).
	Headers map[string]string

	client *fasthttp.HostClient
	// What every request to this upstream carries, built once: parsed
	// URIs (copied, not parsed, per request) and the Authorization value.
	chatURL, embedURL fasthttp.URI
	auth              []byte
}

// upstreamIDHeader carries the proxy's request id upstream. Besides helping
// whoever reads the upstream's logs, it lets the proxy's dialer learn which
// pooled connection serves which request, so that a revocation can cut
// exactly that connection.
const upstreamIDHeader = "Wattfare-Request-Id"

func (u *Upstream) init(t *transport) error {
	p, err := url.Parse(u.BaseURL)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return fmt.Errorf("upstream %s: bad base url %q", u.Name, u.BaseURL)
	}
	host := p.Host
	if p.Port() == "" {
		if p.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	base := p.Scheme + "://" + p.Host + p.EscapedPath()
	if err := u.chatURL.Parse(nil, []byte(base+"/chat/completions")); err != nil {
		return fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	if err := u.embedURL.Parse(nil, []byte(base+"/embeddings")); err != nil {
		return fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	if u.APIKey != "" {
		u.auth = []byte("Bearer " + u.APIKey)
	}
	if u.MaxConns <= 0 {
		u.MaxConns = 4096
	}
	if u.MaxConnWait <= 0 {
		u.MaxConnWait = 5 * time.Second
	}
	// Streams ask for a streamed body per response (exchange.run); whole
	// answers are read into the response in one go, which spares a body
	// reader and its closures per request.
	u.client = &fasthttp.HostClient{
		Addr:                          host,
		Name:                          "wattfare",
		Dial:                          t.dialer(p.Scheme == "https", p.Hostname()),
		StreamResponseBody:            false,
		MaxResponseBodySize:           maxUpstreamBody,
		MaxConns:                      u.MaxConns,
		MaxConnWaitTimeout:            u.MaxConnWait,
		MaxIdleConnDuration:           30 * time.Second,
		MaxIdemponentCallAttempts:     1,
		DisableHeaderNamesNormalizing: false,
		NoDefaultUserAgentHeader:      true,
		ReadBufferSize:                4096,
	}
	return nil
}

// transport wraps every upstream connection so that reads have first-byte
// and idle deadlines (fasthttp's own ReadTimeout would bound a whole stream)
// and so that the proxy can cut the connection of a request whose payer was
// revoked.
type transport struct {
	firstByte time.Duration
	idle      time.Duration
	flights   *flights
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
	f atomic.Pointer[flight] // the request it is serving, learned from the request's header

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
	// A request starts with its request line; its header names the flight.
	if f := c.f.Load(); (f == nil || f.ended.Load()) && len(p) > 5 && (bytes.HasPrefix(p, []byte("POST ")) || bytes.HasPrefix(p, []byte("GET "))) {
		if i := bytes.Index(p, idHeaderLine); i >= 0 {
			rest := p[i+len(idHeaderLine):]
			if j := bytes.IndexByte(rest, '\r'); j > 0 {
				if nf := c.t.flights.byRequestID(rest[:j]); nf != nil {
					c.f.Store(nf)
					nf.conn.Store(c)
				}
			}
		}
	}
	c.setWriteDeadline(c.t.firstByte, time.Now())
	return c.Conn.Write(p)
}

func (c *upConn) Read(p []byte) (int, error) {
	f := c.f.Load()
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
// reads check the flight's kill flag before they set a deadline again.)
func (c *upConn) cut() { c.Conn.SetReadDeadline(time.Unix(1, 0)) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout)
}
