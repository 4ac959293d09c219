// Package wattfareapp is Wattfare's SDK for app backends. An app's backend
// holds its secret key and uses this package to mint session tokens locally,
// with no call to Wattfare: the browser hands a token to the consent popup
// and to GET /v1/session, and Wattfare verifies it with the key's public half.
//
//	app, err := wattfareapp.New(os.Getenv("WATTFARE_SECRET_KEY"), os.Getenv("WATTFARE_PUBLISHABLE_KEY"))
//	token, err := app.CreateSession(user.ID, wattfare.USD(10))
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
	"strconv"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// Token constants shared by the minter (this package) and the control plane's
// verifier.
const (
	// TokenType is the JWT "typ" of a session token.
	TokenType = "wattfare-session+jwt"
	// Audience is the JWT "aud" of every session token.
	Audience = "wattfare"
	// MaxLifetime bounds exp - iat. A session token only has to live long
	// enough for the popup to open and the user to decide.
	MaxLifetime = 600 * time.Second
)

// Client mints session tokens for one app and mode.
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
		return nil, fmt.Errorf("wattfareapp: secret key: %w", err)
	}
	pk, err := wattfare.ParsePublishableKey(publishableKey)
	if err != nil {
		return nil, fmt.Errorf("wattfareapp: publishable key: %w", err)
	}
	if sk.Mode != pk.Mode {
		return nil, fmt.Errorf("wattfareapp: secret key is %s mode but publishable key is %s mode", sk.Mode, pk.Mode)
	}
	return &Client{secret: sk, publishable: pk, priv: sk.PrivateKey()}, nil
}

// PublishableKey returns the app's publishable key, for the browser.
func (c *Client) PublishableKey() string { return c.publishable.String() }

// Mode returns the mode of the client's keys.
func (c *Client) Mode() wattfare.Mode { return c.secret.Mode }

// CreateSession mints a session token for the app's user userID (the app's
// own id for them), valid for MaxLifetime. monthlyCap is the cap the app
// requests (the user may change it in the popup); zero requests none.
func (c *Client) CreateSession(userID string, monthlyCap wattfare.Money) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("wattfareapp: random jti: %w", err)
	}
	return c.Mint(Session{
		Subject:    userID,
		MonthlyCap: monthlyCap,
		IssuedAt:   time.Now(),
		Lifetime:   MaxLifetime,
		ID:         wattfare.Base32(jti[:]),
	})
}

// Session is everything a token says. Mint takes it whole so that tests
// (and the vectors) can fix the clock and the token id.
type Session struct {
	Subject    string
	MonthlyCap wattfare.Money // zero: no cap requested, the claim is omitted
	IssuedAt   time.Time
	Lifetime   time.Duration // at most MaxLifetime
	ID         string        // the jti
}

// Mint signs s. Most callers want CreateSession.
func (c *Client) Mint(s Session) (string, error) {
	switch {
	case s.Subject == "" || len(s.Subject) > 256:
		return "", errors.New("wattfareapp: user id must be 1 to 256 bytes")
	case s.Lifetime <= 0 || s.Lifetime > MaxLifetime:
		return "", fmt.Errorf("wattfareapp: lifetime must be positive and at most %s", MaxLifetime)
	case s.MonthlyCap < 0 || s.MonthlyCap > wattfare.MaxMoney:
		return "", errors.New("wattfareapp: monthly cap out of range")
	case s.ID == "":
		return "", errors.New("wattfareapp: empty token id")
	}
	// The header and claims are written by hand: the layout (field order,
	// compact JSON) is part of the spec and must not depend on a JSON
	// library's choices.
	header := `{"alg":"EdDSA","typ":"` + TokenType + `","kid":` + jsonString(c.secret.ID.Kid()) + `}`
	iat := s.IssuedAt.Unix()
	var b strings.Builder
	b.WriteString(`{"iss":`)
	b.WriteString(jsonString(c.publishable.String()))
	b.WriteString(`,"sub":`)
	b.WriteString(jsonString(s.Subject))
	b.WriteString(`,"aud":"` + Audience + `","iat":`)
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
