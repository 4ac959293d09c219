package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wattfare/wattfare"
)

// codeInfo is what the data plane answers for one error code: the HTTP
// status, the OpenAI error "type", and the limit it is about when the engine
// did not say (metadata.limit_source).
type codeInfo struct {
	status      int
	typ         string
	limitSource string
}

// codes is the data plane's error table (DESIGN.md's). Budget errors are
// 402/403 so that clients that retry 429 and 5xx (the AI SDK does) treat
// them as final. A code not in it is an internal error: 500 server_error.
var codes = map[string]codeInfo{
	wattfare.EInvalidRequest:    {http.StatusBadRequest, "invalid_request_error", ""},
	wattfare.ERequestTooLarge:   {http.StatusRequestEntityTooLarge, "invalid_request_error", ""},
	wattfare.EInvalidAPIKey:     {http.StatusUnauthorized, "authentication_error", ""},
	wattfare.ECapReached:        {http.StatusPaymentRequired, "insufficient_quota", "connection_cap"},
	wattfare.EBudgetExhausted:   {http.StatusPaymentRequired, "insufficient_quota", "wallet"},
	wattfare.ENotConnected:      {http.StatusForbidden, "permission_error", "connection"},
	wattfare.EConnectionRevoked: {http.StatusForbidden, "permission_error", "connection"},
	wattfare.EAppSuspended:      {http.StatusForbidden, "permission_error", "app"},
	wattfare.EModelNotFound:     {http.StatusNotFound, "not_found_error", ""},
	wattfare.ERateLimited:       {http.StatusTooManyRequests, "rate_limit_error", ""},
	wattfare.EUpstreamError:     {http.StatusBadGateway, "upstream_error", ""},
	wattfare.EUpstreamTimeout:   {http.StatusGatewayTimeout, "upstream_error", ""},
	wattfare.EUnavailable:       {http.StatusServiceUnavailable, "service_unavailable", ""},
}

func infoOf(code string) codeInfo {
	if i, ok := codes[code]; ok {
		return i
	}
	return codeInfo{http.StatusInternalServerError, "server_error", ""}
}

// statusOf is the HTTP status of a code.
func statusOf(code string) int { return infoOf(code).status }

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
	info := infoOf(e.Code)
	b := envelopeBody{Message: e.Message, Type: info.typ, Code: e.Code}
	if e.Field != "" {
		f := e.Field
		b.Param = &f
	}
	if src := info.limitSource; src != "" || len(e.Metadata) > 0 {
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
