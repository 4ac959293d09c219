package controlplane

import (
	"context"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph"
)

// CodeRateLimited is the extensions.code of a sign-in or sign-up refused
// because its client tried too often; extensions.retryAfterSeconds says
// when to try again.
const CodeRateLimited = wattfare.ERATELIMITED

// rate is a token bucket's shape: burst attempts at once, then one per every.
type rate struct {
	burst float64
	every time.Duration
}

// The limits on attempts. Sign-in is limited per client IP and email (a
// password guesser on one account) and per client IP (a guesser spraying
// many accounts, and the argon2id work each attempt costs); sign-up the
// same, with fewer attempts per email. A successful sign-in gives its
// attempt back, so that a person who signs in often is never limited.
var (
	signInPerEmail = rate{burst: 10, every: 30 * time.Second}
	signUpPerEmail = rate{burst: 5, every: time.Minute}
	attemptsPerIP  = rate{burst: 100, every: 5 * time.Second}
)

// maxBuckets bounds the limiter's memory: full buckets are dropped first,
// then arbitrary ones.
const maxBuckets = 100_000

type bucket struct {
	tokens float64
	at     time.Time
	rate   rate
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(b.rate.burst, b.tokens+float64(d)/float64(b.rate.every))
		b.at = now
	}
}

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
// the request's client. It refuses with CodeRateLimited, taking nothing,
// when any of the client's buckets is empty. done(true) gives a successful
// sign-in's attempt back.
func (t *authThrottle) Begin(ctx context.Context, action, email string) (func(ok bool), error) {
	ip := clientIP(ctx)
	email = strings.ToLower(strings.TrimSpace(email))
	perEmail := signInPerEmail
	if action == "signUp" {
		perEmail = signUpPerEmail
	}
	keys := [2]string{action + "\x00" + ip + "\x00" + email, "ip\x00" + ip}
	rates := [2]rate{perEmail, attemptsPerIP}

	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.prune(now)
	var wait time.Duration
	var bs [2]*bucket
	for i, k := range keys {
		b := t.buckets[k]
		if b == nil {
			b = &bucket{tokens: rates[i].burst, at: now, rate: rates[i]}
			t.buckets[k] = b
		}
		b.refill(now)
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)*float64(b.rate.every)))
		}
		bs[i] = b
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		if ex, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
			ex.w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		return func(bool) {}, &wattfare.Error{Code: CodeRateLimited,
			Message:  "too many attempts; try again in " + strconv.Itoa(secs) + " seconds",
			Metadata: map[string]any{"retryAfterSeconds": secs}}
	}
	for _, b := range bs {
		b.tokens--
	}
	var once sync.Once
	return func(ok bool) {
		if !ok || action != "signIn" {
			return
		}
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			for _, b := range bs {
				b.tokens = math.Min(b.rate.burst, b.tokens+1)
			}
		})
	}, nil
}

// prune drops full buckets once a minute (they hold nothing a fresh bucket
// would not), and arbitrary ones past maxBuckets. t.mu is held.
func (t *authThrottle) prune(now time.Time) {
	if now.Sub(t.lastPrune) < time.Minute && len(t.buckets) < maxBuckets {
		return
	}
	t.lastPrune = now
	for k, b := range t.buckets {
		b.refill(now)
		if b.tokens >= b.rate.burst {
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

// clientIP is the address the request came from. X-Forwarded-For is not
// trusted: any client can write it.
func clientIP(ctx context.Context) string {
	ex, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok || ex.remoteAddr == "" {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(ex.remoteAddr)
	if err != nil {
		return ex.remoteAddr
	}
	return host
}
