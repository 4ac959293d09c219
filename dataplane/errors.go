package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wattfare/wattfare"
)

// statusOf maps the data plane's error codes to HTTP statuses (DESIGN.md's
// error table). Budget errors are 402/403 so that clients that retry 429 and
// 5xx (the AI SDK does) treat them as final.
func statusOf(code string) int {
	switch code {
	case wattfare.EInvalidRequest:
		return http.StatusBadRequest
	case wattfare.EInvalidAPIKey:
		return http.StatusUnauthorized
	case wattfare.ECapReached, wattfare.EBudgetExhausted:
		return http.StatusPaymentRequired
	case wattfare.ENotConnected, wattfare.EConnectionRevoked, wattfare.EAppSuspended:
		return http.StatusForbidden
	case wattfare.EModelNotFound:
		return http.StatusNotFound
	case wattfare.ERequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case wattfare.ERateLimited:
		return http.StatusTooManyRequests
	case wattfare.EUpstreamError:
		return http.StatusBadGateway
	case wattfare.EUpstreamTimeout:
		return http.StatusGatewayTimeout
	case wattfare.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// typeOf is the OpenAI error "type" for a code.
func typeOf(code string) string {
	switch code {
	case wattfare.EInvalidRequest, wattfare.ERequestTooLarge:
		return "invalid_request_error"
	case wattfare.EInvalidAPIKey:
		return "authentication_error"
	case wattfare.ECapReached, wattfare.EBudgetExhausted:
		return "insufficient_quota"
	case wattfare.ENotConnected, wattfare.EConnectionRevoked, wattfare.EAppSuspended:
		return "permission_error"
	case wattfare.EModelNotFound:
		return "not_found_error"
	case wattfare.ERateLimited:
		return "rate_limit_error"
	case wattfare.EUpstreamError, wattfare.EUpstreamTimeout:
		return "upstream_error"
	case wattfare.EUnavailable:
		return "service_unavailable"
	}
	return "server_error"
}

// limitSourceOf says which limit an error is about when the engine did not.
func limitSourceOf(code string) string {
	switch code {
	case wattfare.ECapReached:
		return "connection_cap"
	case wattfare.EBudgetExhausted:
		return "wallet"
	case wattfare.ENotConnected, wattfare.EConnectionRevoked:
		return "connection"
	case wattfare.EAppSuspended:
		return "app"
	}
	return ""
}

// toError turns any error into the *wattfare.Error a client sees. A
// cancelled or expired context (a shutdown, a database that did not answer
// in time) is 503 unavailable, which clients retry; other internal errors
// become a generic 500 and their detail stays in the log.
func toError(err error) *wattfare.Error {
	var e *wattfare.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &wattfare.Error{Code: wattfare.EUnavailable, Message: "Wattfare cannot serve this request right now; retry shortly"}
	}
	return &wattfare.Error{Code: wattfare.EINTERNAL, Message: "internal error"}
}

// envelope is the OpenAI error body, with Wattfare's metadata.
type envelope struct {
	Error envelopeBody `json:"error"`
}

type envelopeBody struct {
	Message  string         `json:"message"`
	Type     string         `json:"type"`
	Code     string         `json:"code"`
	Param    *string        `json:"param"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// errorBody returns the JSON envelope of e, with connect_url and
// limit_source filled in for budget and consent errors.
func (s *Server) errorBody(e *wattfare.Error) envelopeBody {
	b := envelopeBody{Message: e.Message, Type: typeOf(e.Code), Code: e.Code}
	if e.Field != "" {
		f := e.Field
		b.Param = &f
	}
	if src := limitSourceOf(e.Code); src != "" || len(e.Metadata) > 0 {
		b.Metadata = make(map[string]any, len(e.Metadata)+2)
		for k, v := range e.Metadata {
			b.Metadata[k] = v
		}
		if src != "" {
			if _, ok := b.Metadata["limit_source"]; !ok {
				b.Metadata["limit_source"] = src
			}
			if s.cfg.ControlURL != "" {
				b.Metadata["connect_url"] = s.cfg.ControlURL + "/budget"
			}
		}
	}
	return b
}

// errorJSON is the response body of an error before the first byte.
func (s *Server) errorJSON(e *wattfare.Error) []byte {
	b, _ := json.Marshal(envelope{Error: s.errorBody(e)})
	return b
}

// errorEvent is the final SSE event of a stream that fails after its first
// byte: the envelope, and a choice with finish_reason "error" so that
// clients waiting for a finish reason see one.
func (s *Server) errorEvent(e *wattfare.Error) []byte {
	b, _ := json.Marshal(struct {
		Error   envelopeBody `json:"error"`
		Object  string       `json:"object"`
		Choices []any        `json:"choices"`
	}{
		Error:   s.errorBody(e),
		Object:  "chat.completion.chunk",
		Choices: []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "error"}},
	})
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}
