package wattfare

import (
	"errors"
	"fmt"
)

// Error codes: one vocabulary, whichever plane refuses. The data plane's
// codes are DESIGN.md's error table and travel as they are in the OpenAI
// error envelope's "code"; the control plane's travel in GraphQL's
// extensions.code, which graph's error presenter upper-cases (so
// ERateLimited is "RATE_LIMITED" there). One Error type crosses every edge
// and each edge translates it once. A code both planes answer with is one
// constant, not one per plane.
const (
	// Data plane (OpenAI envelope "code").
	EInvalidRequest    = "invalid_request"
	EInvalidAPIKey     = "invalid_api_key"
	ECapReached        = "cap_reached"
	EBudgetExhausted   = "budget_exhausted"
	ENotConnected      = "not_connected"
	EConnectionRevoked = "connection_revoked"
	EAppSuspended      = "app_suspended"
	EModelNotFound     = "model_not_found"
	EUpstreamError     = "upstream_error"
	EUpstreamTimeout   = "upstream_timeout"
	EUnavailable       = "unavailable"

	// Both planes. ERequestTooLarge: a request body (or a GraphQL query)
	// over the size limit, 413. ERateLimited: too many requests, 429 on
	// the data plane; on the control plane a sign-in or sign-up tried too
	// often, to retry after metadata retryAfterSeconds.
	ERequestTooLarge = "request_too_large"
	ERateLimited     = "rate_limited"

	// Control plane (GraphQL extensions.code).
	ENOTFOUND        = "NOT_FOUND"
	EUNAUTHENTICATED = "UNAUTHENTICATED"
	EFORBIDDEN       = "FORBIDDEN"
	EINVALID         = "INVALID_INPUT"
	ECONFLICT        = "CONFLICT"
	EINTERNAL        = "INTERNAL"
	// EPROPAGATIONPENDING: a write that stops spending (revoke, suspend,
	// lower a cap) committed, but a data-plane lease in scope was still open
	// when the wait ended; metadata stopsBy says when it expires at the latest.
	EPROPAGATIONPENDING = "PROPAGATION_PENDING"
)

// Error is the domain error: a code a program can switch on, a message a
// person can read, and optional metadata (which limit tripped, how to fix it).
// Internal failures are wrapped as EINTERNAL and their detail is logged, never
// shown to callers.
type Error struct {
	Code     string
	Message  string
	Field    string         // the offending input field, if any
	Metadata map[string]any // e.g. limit_source, cap_usd, spent_usd, resets_at, connect_url
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an EINVALID error that names the offending field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
