package wattfare

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The rules of a session token (spec/session-vectors.json), in one place:
// the Go SDK mints by them (sdk/go/wattfareapp), the control plane verifies
// by them (controlplane/session.go), and the data plane applies the same
// user-id rule to the Wattfare-User header.
const (
	// SessionTokenType is the JWT "typ" of a session token.
	SessionTokenType = "wattfare-session+jwt"
	// SessionAudience is the JWT "aud" of every session token.
	SessionAudience = "wattfare"
	// MaxSessionLifetime bounds exp - iat. A session token only has to live
	// long enough for the popup to open and the user to decide.
	MaxSessionLifetime = 600 * time.Second
	// MaxUserIDLen bounds an app's user id (a token's sub, the data plane's
	// Wattfare-User), in bytes.
	MaxUserIDLen = 256
)

// ErrInvalidUserID: an app's user id is empty, too long, not UTF-8, has
// control characters or surrounding spaces (it must survive an HTTP header
// unchanged: the data plane's Wattfare-User).
var ErrInvalidUserID = errors.New("invalid user id")

// CheckUserID reports whether id can be an app's user id: 1 to
// MaxUserIDLen bytes of UTF-8, no control characters, no leading or
// trailing space.
func CheckUserID(id string) error {
	switch {
	case id == "" || len(id) > MaxUserIDLen:
		return fmt.Errorf("%w: must be 1 to %d bytes", ErrInvalidUserID, MaxUserIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidUserID)
	case strings.TrimSpace(id) != id:
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidUserID)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: control character", ErrInvalidUserID)
	}
	return nil
}
