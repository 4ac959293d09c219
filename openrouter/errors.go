package openrouter

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// APIError is an answer of OpenRouter other than 2xx: its status and the
// message of its {"error": {"code", "message"}} body. The message is
// OpenRouter's, never a secret: error bodies do not echo keys.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("openrouter: %d %s", e.Status, e.Message)
}

// Temporary reports whether the call may succeed when retried: a rate
// limit, a timeout or a server error. 4xx answers other than 408 and 429
// will not change by themselves.
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(b, &env) == nil && env.Error.Message != "" {
		msg = env.Error.Message
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
