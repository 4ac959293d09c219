// Package openroutertest is a fixture OpenRouter server for tests, written
// from OpenRouter's API documentation. New starts it on an ephemeral
// loopback port; each area of the API registers its routes on the shared
// mux in its own file (models.go serves GET /api/v1/models).
package openroutertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Server is a running fixture OpenRouter. Its methods are safe for
// concurrent use.
type Server struct {
	srv *httptest.Server
	mux *http.ServeMux

	mu     sync.Mutex
	models modelsState
	chat   chatState // guarded by mu
	keys   keysState // its own mutex
}

// New starts a fixture OpenRouter and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{mux: http.NewServeMux()}
	s.registerModels()
	s.registerKeys()
	s.registerChat()
	s.registerResponses()
	s.srv = httptest.NewServer(s.mux)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, like https://openrouter.ai: the API lives
// under URL()+"/api/v1".
func (s *Server) URL() string { return s.srv.URL }

// writeError answers the way OpenRouter does before a body starts:
// {"error": {"code": status, "message": ...}} with the status as the code.
func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(map[string]any{"error": map[string]any{"code": status, "message": message}}))
}
