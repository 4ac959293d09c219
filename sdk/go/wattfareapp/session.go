// Package wattfareapp is Wattfare's SDK for app backends. An app's backend
// holds its secret key and uses this package to mint session tokens locally,
// with no call to Wattfare: the browser hands a token to the consent popup
// and to GET /v1/session, and Wattfare verifies it with the key's public half.
//
//	wf, err := wattfareapp.NewFromEnv() // WATTFARE_SECRET_KEY, WATTFARE_PUBLISHABLE_KEY
//	token, err := wf.CreateSession(user.ID, wattfare.USD(10))
//
// The token layout is fixed by spec/session-vectors.json, which this package
// reproduces byte for byte.
package wattfareapp

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// Errors New and CreateSession return, wrapped with detail; test them with
// errors.Is.
var (
	// ErrInvalidKey: a key is malformed, fails its checksum, or the two
	// keys are of different modes.
	ErrInvalidKey = errors.New("wattfareapp: invalid key")
	// ErrInvalidUserID: the user id breaks wattfare.CheckUserID.
	ErrInvalidUserID = wattfare.ErrInvalidUserID
	// ErrInvalidCap: the requested cap is negative or over wattfare.MaxMonthlyCap.
	ErrInvalidCap = errors.New("wattfareapp: invalid monthly cap")
)

// Client mints session tokens for one app and mode. It is safe for
// concurrent use. It holds the secret key, and prints as its publishable
// key only, so that logging a Client never leaks the secret.
type Client struct {
	secret      wattfare.SecretKey
	publishable wattfare.PublishableKey
	priv        ed25519.PrivateKey
}

// New returns a Client for the app's secret key and publishable key. They
// must be of the same mode; a secret key with a bad checksum is refused here.
func New(secretKey, publishableKey string) (*Client, error) {
	sk, err := wattfare.ParseSecretKey(secretKey)
	if err != nil {
		return nil, fmt.Errorf("%w: secret key: %w", ErrInvalidKey, err)
	}
	pk, err := wattfare.ParsePublishableKey(publishableKey)
	if err != nil {
		return nil, fmt.Errorf("%w: publishable key: %w", ErrInvalidKey, err)
	}
	if sk.Mode != pk.Mode {
		return nil, fmt.Errorf("%w: secret key is %s mode but publishable key is %s mode", ErrInvalidKey, sk.Mode, pk.Mode)
	}
	return &Client{secret: sk, publishable: pk, priv: sk.PrivateKey()}, nil
}

// String names the client by its publishable key, never its secret.
func (c *Client) String() string { return "wattfareapp.Client(" + c.publishable.String() + ")" }

// GoString is String, so that %#v does not print the secret either.
func (c *Client) GoString() string { return c.String() }

// Environment variables NewFromEnv reads.
const (
	EnvSecretKey      = "WATTFARE_SECRET_KEY"
	EnvPublishableKey = "WATTFARE_PUBLISHABLE_KEY"
)

// NewFromEnv is New with the keys from WATTFARE_SECRET_KEY and
// WATTFARE_PUBLISHABLE_KEY, as most deployments keep them.
func NewFromEnv() (*Client, error) {
	sk, pk := os.Getenv(EnvSecretKey), os.Getenv(EnvPublishableKey)
	if sk == "" || pk == "" {
		return nil, fmt.Errorf("%w: set %s and %s", ErrInvalidKey, EnvSecretKey, EnvPublishableKey)
	}
	return New(sk, pk)
}

// PublishableKey returns the app's publishable key, for the browser.
func (c *Client) PublishableKey() string { return c.publishable.String() }

// Mode returns the mode of the client's keys.
func (c *Client) Mode() wattfare.Mode { return c.secret.Mode }

// CreateSession mints a session token for the app's user userID (the app's
// own id for them), valid for wattfare.MaxSessionLifetime. monthlyCap is the cap the app
// requests (the user may change it in the popup); zero requests none.
//
// userID must be the user your backend has signed in, from your own session,
// never a value the browser sent: whoever holds a token for a user id can
// ask any Wattfare user to pay for it. Signing is local (no network call),
// which is why there is no context argument; errors are ErrInvalidUserID or
// ErrInvalidCap, wrapped.
func (c *Client) CreateSession(userID string, monthlyCap wattfare.Money) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("wattfareapp: random jti: %w", err)
	}
	return c.Mint(Session{
		Subject:    userID,
		MonthlyCap: monthlyCap,
		IssuedAt:   time.Now(),
		Lifetime:   wattfare.MaxSessionLifetime,
		ID:         wattfare.Base32(jti[:]),
	})
}

// Session is everything a token says. Mint takes it whole so that tests
// (and the vectors) can fix the clock and the token id.
type Session struct {
	Subject    string
	MonthlyCap wattfare.Money // zero: no cap requested, the claim is omitted
	IssuedAt   time.Time
	Lifetime   time.Duration // at most wattfare.MaxSessionLifetime
	ID         string        // the jti
}

// Mint signs s. Most callers want CreateSession.
func (c *Client) Mint(s Session) (string, error) {
	if err := wattfare.CheckUserID(s.Subject); err != nil {
		return "", err
	}
	switch {
	case s.Lifetime < time.Second || s.Lifetime > wattfare.MaxSessionLifetime || s.Lifetime%time.Second != 0:
		return "", fmt.Errorf("wattfareapp: lifetime must be whole seconds, 1 s to %s", wattfare.MaxSessionLifetime)
	case s.MonthlyCap < 0 || s.MonthlyCap > wattfare.MaxMonthlyCap:
		return "", fmt.Errorf("%w: must be 0 (none) to %s", ErrInvalidCap, wattfare.MaxMonthlyCap)
	case s.ID == "":
		return "", errors.New("wattfareapp: empty token id")
	}
	// The header and claims are written by hand: the layout (field order,
	// compact JSON) is part of the spec and must not depend on a JSON
	// library's choices.
	header := `{"alg":"EdDSA","typ":"` + wattfare.SessionTokenType + `","kid":` + jsonString(c.secret.ID.Kid()) + `}`
	iat := s.IssuedAt.Unix()
	var b strings.Builder
	b.WriteString(`{"iss":`)
	b.WriteString(jsonString(c.publishable.String()))
	b.WriteString(`,"sub":`)
	b.WriteString(jsonString(s.Subject))
	b.WriteString(`,"aud":"` + wattfare.SessionAudience + `","iat":`)
	b.WriteString(strconv.FormatInt(iat, 10))
	b.WriteString(`,"exp":`)
	b.WriteString(strconv.FormatInt(iat+int64(s.Lifetime/time.Second), 10))
	b.WriteString(`,"jti":`)
	b.WriteString(jsonString(s.ID))
	if s.MonthlyCap > 0 {
		b.WriteString(`,"monthly_cap_usd":`)
		b.WriteString(CapNumber(s.MonthlyCap))
	}
	b.WriteString(`}`)

	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(b.String()))
	sig := ed25519.Sign(c.priv, []byte(signing))
	return signing + "." + enc.EncodeToString(sig), nil
}

// CapNumber formats a cap as the JSON number of the monthly_cap_usd claim:
// a plain decimal with no trailing zeros ("10", "2.5", "0.000001").
func CapNumber(m wattfare.Money) string {
	s := m.String()
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
