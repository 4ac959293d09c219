package openroutertest

import (
	"encoding/json"
	"net/http"
)

// Model is one entry of GET /api/v1/models in OpenRouter's JSON shape.
// Prices are decimal USD per unit as strings, as OpenRouter sends them.
type Model struct {
	ID                  string          `json:"id"`
	CanonicalSlug       string          `json:"canonical_slug,omitempty"`
	Name                string          `json:"name"`
	Created             int64           `json:"created,omitempty"`
	Description         string          `json:"description,omitempty"`
	ContextLength       int             `json:"context_length"`
	Architecture        Architecture    `json:"architecture"`
	Pricing             Pricing         `json:"pricing"`
	TopProvider         TopProvider     `json:"top_provider"`
	PerRequestLimits    json.RawMessage `json:"per_request_limits"`
	SupportedParameters []string        `json:"supported_parameters"`
}

// Architecture is a model's modalities and tokenizer.
type Architecture struct {
	Modality         string   `json:"modality"`
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
	Tokenizer        string   `json:"tokenizer"`
	InstructType     *string  `json:"instruct_type"`
}

// Pricing holds decimal USD strings: per token for prompt, completion and
// the cache and reasoning prices, per request for request, per image for
// image. Empty fields are left out.
type Pricing struct {
	Prompt            string `json:"prompt"`
	Completion        string `json:"completion"`
	Request           string `json:"request,omitempty"`
	Image             string `json:"image,omitempty"`
	WebSearch         string `json:"web_search,omitempty"`
	InternalReasoning string `json:"internal_reasoning,omitempty"`
	InputCacheRead    string `json:"input_cache_read,omitempty"`
	InputCacheWrite   string `json:"input_cache_write,omitempty"`
	Audio             string `json:"audio,omitempty"`
}

// TopProvider is what the model's best provider allows.
type TopProvider struct {
	ContextLength       *int `json:"context_length"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	IsModerated         bool `json:"is_moderated"`
}

type modelsState struct {
	list       []Model
	raw        []byte // when set, served as is instead of list
	failStatus int    // when set, /api/v1/models answers it
	calls      int
}

func (s *Server) registerModels() {
	s.mux.HandleFunc("GET /api/v1/models", s.serveModels)
}

func (s *Server) serveModels(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.models.calls++
	fail, raw := s.models.failStatus, s.models.raw
	list := append([]Model(nil), s.models.list...)
	s.mu.Unlock()
	if fail != 0 {
		writeError(w, fail, "upstream fixture failure")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if raw != nil {
		_, _ = w.Write(raw)
		return
	}
	if list == nil {
		list = []Model{}
	}
	_, _ = w.Write(mustJSON(map[string]any{"data": list}))
}

// SetModels replaces the list GET /api/v1/models serves.
func (s *Server) SetModels(models []Model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models.list = append([]Model(nil), models...)
	s.models.raw = nil
}

// SetModelsJSON makes GET /api/v1/models serve body as is (a snapshot
// file, or a hostile document).
func (s *Server) SetModelsJSON(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models.raw = append([]byte(nil), body...)
}

// FailModels makes GET /api/v1/models answer status (a 5xx, say) with
// OpenRouter's error body until it is called again with 0.
func (s *Server) FailModels(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models.failStatus = status
}

// ModelsCalls counts the requests GET /api/v1/models has had.
func (s *Server) ModelsCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.models.calls
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
