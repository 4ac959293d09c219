package controlplane

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph"
)

// limit is a token bucket's shape: burst attempts at once, then one per every.
type limit struct {
	burst int
	every time.Duration
}

// The limits on attempts. Sign-in is limited per client IP and email (a
// password guesser on one account) and per client IP (a guesser spraying
// many accounts, and the argon2id work each attempt costs); sign-up the
// same, with fewer attempts per email. A successful sign-in is not counted,
// so that a person who signs in often is never limited.
var (
	signInPerEmail = limit{burst: 10, every: 30 * time.Second}
	signUpPerEmail = limit{burst: 5, every: time.Minute}
	attemptsPerIP  = limit{burst: 100, every: 5 * time.Second}
)

// maxBuckets bounds the limiter's memory: idle buckets are dropped first,
// then arbitrary ones.
const maxBuckets = 100_000

// bucket is one client's (or one client and email's) limiter. An attempt
// is pending from Begin until its outcome is known, and is charged then
// unless it was a successful sign-in; Begin counts pending attempts as
// spent, so that attempts sent all at once cannot outrun the limit while
// they are being checked.
type bucket struct {
	lim     *rate.Limiter
	every   time.Duration
	pending int
}

// available is what the bucket allows at now, pending attempts taken out.
func (b *bucket) available(now time.Time) float64 {
	return b.lim.TokensAt(now) - float64(b.pending)
}

// idle reports a bucket that a fresh one would replace exactly.
func (b *bucket) idle(now time.Time) bool {
	return b.pending == 0 && b.lim.TokensAt(now) >= float64(b.lim.Burst())
}

// tokenSlack absorbs float rounding in the limiter's refill arithmetic
// (every seconds × 1/every tokens a second may come to a hair under 1).
const tokenSlack = 1e-9

// authThrottle limits sign-in and sign-up attempts in memory, per process.
// Several control-plane processes each apply the limits, which is enough to
// make guessing passwords slow; nothing about it needs to survive a restart.
type authThrottle struct {
	now       func() time.Time
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastPrune time.Time
}

var _ graph.Throttle = (*authThrottle)(nil)

func newAuthThrottle(now func() time.Time) *authThrottle {
	if now == nil {
		now = time.Now
	}
	return &authThrottle{now: now, buckets: map[string]*bucket{}}
}

// Begin takes one attempt of action ("signIn" or "signUp") for email from
// the request's client. It refuses with wattfare.ERateLimited, taking nothing,
// when any of the client's buckets is empty. done reports the outcome: a
// successful sign-in (done(true)) is not charged, anything else is.
func (t *authThrottle) Begin(ctx context.Context, action, email string) (func(ok bool), error) {
	ip := clientIP(ctx)
	email = strings.ToLower(strings.TrimSpace(email))
	perEmail := signInPerEmail
	if action == "signUp" {
		perEmail = signUpPerEmail
	}
	keys := [2]string{action + "\x00" + ip + "\x00" + email, "ip\x00" + ip}
	limits := [2]limit{perEmail, attemptsPerIP}

	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.prune(now)
	var wait time.Duration
	var bs [2]*bucket
	for i, k := range keys {
		b := t.buckets[k]
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(rate.Every(limits[i].every), limits[i].burst), every: limits[i].every}
			t.buckets[k] = b
		}
		if avail := b.available(now); avail < 1-tokenSlack {
			wait = max(wait, time.Duration((1-avail)*float64(b.every)).Round(time.Millisecond))
		}
		bs[i] = b
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		if ex, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
			ex.w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		return func(bool) {}, &wattfare.Error{Code: wattfare.ERateLimited,
			Message:  "too many attempts; try again in " + strconv.Itoa(secs) + " seconds",
			Metadata: map[string]any{"retryAfterSeconds": secs}}
	}
	for _, b := range bs {
		b.pending++
	}
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			charge := !ok || action != "signIn"
			now := t.now()
			for _, b := range bs {
				b.pending--
				if charge {
					// Always granted: the limiter goes into debt rather
					// than forget an attempt that was let through.
					b.lim.ReserveN(now, 1)
				}
			}
		})
	}, nil
}

// prune drops idle buckets once a minute, and arbitrary ones past
// maxBuckets. t.mu is held.
func (t *authThrottle) prune(now time.Time) {
	if now.Sub(t.lastPrune) < time.Minute && len(t.buckets) < maxBuckets {
		return
	}
	t.lastPrune = now
	for k, b := range t.buckets {
		if b.idle(now) {
			delete(t.buckets, k)
		}
	}
	for k := range t.buckets {
		if len(t.buckets) < maxBuckets {
			break
		}
		delete(t.buckets, k)
	}
}

// clientIP is the address the limits count the request against: the one
// withDashboardSession found (see clientAddr).
func clientIP(ctx context.Context) string {
	ex, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok || ex.client == "" {
		return "unknown"
	}
	return ex.client
}

// clientAddr is the address of the client that sent r. It is the
// connection's peer, unless the peer is one of the trusted proxies: then
// X-Forwarded-For is read from the right, past every trusted proxy, and the
// first address no trusted proxy vouches for is the client. Anything to
// the left of it was written by that client and is ignored. With no
// trusted proxies (the default) X-Forwarded-For is never read: anyone can
// write it.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		a, ok := parseAddr(hop)
		if !ok {
			// A trusted proxy appends addresses, never garbage: the entry
			// is the client's, and so is the count.
			return hop
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
		client = a
	}
	// Every hop is a trusted proxy: the request started inside.
	return client.String()
}

// parseAddr reads an IP address with or without a port, as RemoteAddr and
// some proxies' X-Forwarded-For entries carry it.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of proxy addresses and
// networks ("10.0.0.0/8, 192.0.2.7, fd00::/8") for Config.TrustedProxies.
// A bare address is a network of one.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
