package dataplane

import (
	"fmt"
	"maps"
	"net/url"
	"strconv"
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
	// ConnectionKeys: live connections call this upstream with their own
	// key (the backstop, upstreamkey.go), never APIKey; one whose key is
	// not provisioned yet is refused with 503. Test connections, which
	// have none, use APIKey.
	ConnectionKeys bool
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
	chatURL, embedURL, responsesURL fasthttp.URI
	auth                            []byte
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
	if err := u.responsesURL.Parse(nil, []byte(base+"/responses")); err != nil {
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

// simulating returns the sandbox upstream u asking the sandbox to simulate
// a catalog model with a context window of contextLength tokens
// (simulateHeader): the same connections, one header more.
func (u *Upstream) simulating(contextLength int) *Upstream {
	sim := &Upstream{
		Name: u.Name, BaseURL: u.BaseURL, APIKey: u.APIKey, ConnectionKeys: u.ConnectionKeys, MaxConns: u.MaxConns, MaxConnWait: u.MaxConnWait,
		Headers: make(map[string]string, len(u.Headers)+1),
		client:  u.client, auth: u.auth,
	}
	maps.Copy(sim.Headers, u.Headers)
	sim.Headers[simulateHeader] = "context_length=" + strconv.Itoa(contextLength)
	u.chatURL.CopyTo(&sim.chatURL)
	u.embedURL.CopyTo(&sim.embedURL)
	u.responsesURL.CopyTo(&sim.responsesURL)
	return sim
}
