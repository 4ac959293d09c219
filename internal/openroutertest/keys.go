package openroutertest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wattfare/wattfare"
)

// ManagementKey is the fixture's management key: it may create, read,
// patch and delete keys (/api/v1/keys) but, as on OpenRouter, not call
// models. APIKey is an ordinary key without a limit, like the one key a
// deployment without key management shares.
const (
	ManagementKey = "sk-or-v1-fixture-management-key"
	APIKey        = "sk-or-v1-fixture-shared-key"
)

// Key is one API key as the fixture holds it. Usage counts what the key's
// completions cost since its last reset; the fixture resets it monthly for
// limit_reset "monthly" (ResetUsage does so in a test at will).
type Key struct {
	Hash               string
	Name               string
	Secret             string
	Disabled           bool
	Limit              *wattfare.Money
	LimitReset         string
	IncludeBYOKInLimit bool
	Usage              wattfare.Money // since the last reset
	TotalUsage         wattfare.Money
	Requests           int // completions served
	Refused            int // completions refused for the limit
	Deleted            bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// KeyCall is one call of the key management API, for tests to read what
// Wattfare asked for (Body is the request as sent; it never holds a secret).
type KeyCall struct {
	Method, Path string
	Status       int
	Body         map[string]any
}

type keysState struct {
	mu     sync.Mutex
	byHash map[string]*Key
	order  []string
	calls  []KeyCall
	fail   int // status every key management call answers; 0: serve
	// revoked management keys, and ones added besides ManagementKey.
	mgmtRevoked map[string]bool
	mgmtAdded   map[string]bool
}

func (s *Server) registerKeys() {
	s.keys.byHash = map[string]*Key{}
	s.keys.mgmtRevoked, s.keys.mgmtAdded = map[string]bool{}, map[string]bool{}
	s.mux.HandleFunc("POST /api/v1/keys", s.createKey)
	s.mux.HandleFunc("GET /api/v1/keys", s.listKeys)
	s.mux.HandleFunc("GET /api/v1/keys/{hash}", s.getKey)
	s.mux.HandleFunc("PATCH /api/v1/keys/{hash}", s.patchKey)
	s.mux.HandleFunc("DELETE /api/v1/keys/{hash}", s.deleteKey)
	s.mux.HandleFunc("GET /api/v1/key", s.currentKey)
}

// FailKeys makes every key management call answer status with OpenRouter's
// error body (503, say, for OpenRouter down); 0 serves them again.
func (s *Server) FailKeys(status int) {
	s.keys.mu.Lock()
	s.keys.fail = status
	s.keys.mu.Unlock()
}

// AddManagementKey makes k a management key too, as creating a second one
// on OpenRouter does: the first step of rolling the management key.
func (s *Server) AddManagementKey(k string) {
	s.keys.mu.Lock()
	s.keys.mgmtAdded[k] = true
	delete(s.keys.mgmtRevoked, k)
	s.keys.mu.Unlock()
}

// RevokeManagementKey deletes management key k (ManagementKey included):
// its calls answer 401 from then on. The keys it created stay the
// account's and keep working.
func (s *Server) RevokeManagementKey(k string) {
	s.keys.mu.Lock()
	s.keys.mgmtRevoked[k] = true
	delete(s.keys.mgmtAdded, k)
	s.keys.mu.Unlock()
}

// isManagement reports whether secret is a live management key; the caller
// holds keys.mu.
func (s *Server) isManagement(secret string) bool {
	return (secret == ManagementKey || s.keys.mgmtAdded[secret]) && !s.keys.mgmtRevoked[secret]
}

// Keys returns a copy of every key created, deleted ones included, oldest
// first.
func (s *Server) Keys() []Key {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	out := make([]Key, 0, len(s.keys.order))
	for _, h := range s.keys.order {
		out = append(out, *s.keys.byHash[h])
	}
	return out
}

// KeyNamed returns the newest key named name (Wattfare names a
// connection's key by the connection's id).
func (s *Server) KeyNamed(name string) (Key, bool) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	for i := len(s.keys.order) - 1; i >= 0; i-- {
		if k := s.keys.byHash[s.keys.order[i]]; k.Name == name {
			return *k, true
		}
	}
	return Key{}, false
}

// KeyCalls returns the key management calls received so far.
func (s *Server) KeyCalls() []KeyCall {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	return append([]KeyCall(nil), s.keys.calls...)
}

// ResetUsage starts a new limit period for every key, as OpenRouter does
// at midnight UTC on the 1st for monthly keys.
func (s *Server) ResetUsage() {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	for _, k := range s.keys.byHash {
		k.Usage = 0
	}
}

// management authorizes a key management call: the management key only,
// as on OpenRouter. It answers and returns false otherwise, or when the
// fixture is told to fail.
func (s *Server) management(w http.ResponseWriter, r *http.Request, body map[string]any) bool {
	status := 0
	switch {
	case s.keys.fail != 0:
		status = s.keys.fail
		writeError(w, status, "Service temporarily unavailable")
	case !s.isManagement(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")):
		status = http.StatusUnauthorized
		writeError(w, status, "Only management keys can perform this operation")
	}
	s.keys.calls = append(s.keys.calls, KeyCall{Method: r.Method, Path: r.URL.Path, Status: max(status, 200), Body: body})
	return status == 0
}

func readBody(r *http.Request) (map[string]any, bool) {
	var body map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, false
	}
	return body, true
}

// limitOf reads "limit": a JSON number of USD, or null for none. A limit
// finer than a nano-dollar or negative is refused, as OpenRouter refuses
// what it cannot hold.
func limitOf(v any) (*wattfare.Money, bool) {
	if v == nil {
		return nil, true
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	m, err := wattfare.ParseMoney(n.String())
	if err != nil || m < 0 {
		return nil, false
	}
	return &m, true
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(r)
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if !s.management(w, r, body) {
		return
	}
	name, _ := body["name"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		writeError(w, http.StatusBadRequest, "name is required")
		return
	}
	limit, ok := limitOf(body["limit"])
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a non-negative number")
		return
	}
	reset, _ := body["limit_reset"].(string)
	switch reset {
	case "", "daily", "weekly", "monthly":
	default:
		writeError(w, http.StatusBadRequest, "limit_reset must be daily, weekly or monthly")
		return
	}
	byok, _ := body["include_byok_in_limit"].(bool)
	secret := "sk-or-v1-" + randomHex(32)
	sum := sha256.Sum256([]byte(secret))
	now := time.Now().UTC()
	k := &Key{Hash: hex.EncodeToString(sum[:]), Name: name, Secret: secret, Limit: limit, LimitReset: reset,
		IncludeBYOKInLimit: byok, CreatedAt: now, UpdatedAt: now}
	s.keys.byHash[k.Hash] = k
	s.keys.order = append(s.keys.order, k.Hash)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(mustJSON(map[string]any{"data": keyJSON(k), "key": secret}))
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if !s.management(w, r, nil) {
		return
	}
	data := []any{}
	for _, h := range s.keys.order {
		if k := s.keys.byHash[h]; !k.Deleted {
			data = append(data, keyJSON(k))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]any{"data": data}))
}

// live returns the undeleted key of the path's hash, or answers 404.
func (s *Server) live(w http.ResponseWriter, r *http.Request) *Key {
	k := s.keys.byHash[r.PathValue("hash")]
	if k == nil || k.Deleted {
		writeError(w, http.StatusNotFound, "API key not found")
		return nil
	}
	return k
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if !s.management(w, r, nil) {
		return
	}
	if k := s.live(w, r); k != nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(map[string]any{"data": keyJSON(k)}))
	}
}

func (s *Server) patchKey(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(r)
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if !s.management(w, r, body) {
		return
	}
	k := s.live(w, r)
	if k == nil {
		return
	}
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if v, has := body["limit"]; has {
		limit, ok := limitOf(v)
		if !ok {
			writeError(w, http.StatusBadRequest, "limit must be a non-negative number")
			return
		}
		k.Limit = limit
	}
	if v, has := body["disabled"]; has {
		d, ok := v.(bool)
		if !ok {
			writeError(w, http.StatusBadRequest, "disabled must be a boolean")
			return
		}
		k.Disabled = d
	}
	if v, ok := body["name"].(string); ok {
		k.Name = v
	}
	if v, ok := body["limit_reset"].(string); ok {
		k.LimitReset = v
	}
	if v, ok := body["include_byok_in_limit"].(bool); ok {
		k.IncludeBYOKInLimit = v
	}
	k.UpdatedAt = time.Now().UTC()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]any{"data": keyJSON(k)}))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if !s.management(w, r, nil) {
		return
	}
	if k := s.live(w, r); k != nil {
		k.Deleted = true
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(map[string]any{"deleted": true}))
	}
}

// currentKey is GET /api/v1/key: the calling key's own usage and limit.
func (s *Server) currentKey(w http.ResponseWriter, r *http.Request) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	k := s.bySecret(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if k == nil {
		writeError(w, http.StatusUnauthorized, "No auth credentials found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]any{"data": keyJSON(k)}))
}

// bySecret finds an undeleted key by its secret; the caller holds keys.mu.
func (s *Server) bySecret(secret string) *Key {
	sum := sha256.Sum256([]byte(secret))
	k := s.keys.byHash[hex.EncodeToString(sum[:])]
	if k == nil || k.Deleted || k.Secret != secret {
		return nil
	}
	return k
}

// admitKey decides, as OpenRouter does before it runs a completion, whether
// the calling key may spend: the shared APIKey always, a created key while
// it is enabled and its usage is below its limit. It answers the refusal
// itself and returns the key (nil for the shared one) and whether to go on.
func (s *Server) admitKey(w http.ResponseWriter, r *http.Request) (*Key, bool) {
	secret := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if secret == APIKey {
		return nil, true
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if secret == ManagementKey || s.keys.mgmtAdded[secret] || s.keys.mgmtRevoked[secret] {
		writeError(w, http.StatusUnauthorized, "Management keys cannot be used for completions")
		return nil, false
	}
	k := s.bySecret(secret)
	switch {
	case k == nil:
		writeError(w, http.StatusUnauthorized, "User not found.")
		return nil, false
	case k.Disabled:
		writeError(w, http.StatusUnauthorized, "API key is disabled")
		return nil, false
	case k.Limit != nil && k.Usage >= *k.Limit:
		k.Refused++
		writeError(w, http.StatusForbidden, "Key limit exceeded")
		return nil, false
	}
	return k, true
}

// charge adds a completion's cost to the key that made it (nil: the shared key).
func (s *Server) charge(k *Key, cost wattfare.Money) {
	if k == nil {
		return
	}
	s.keys.mu.Lock()
	k.Usage += cost
	k.TotalUsage += cost
	k.Requests++
	s.keys.mu.Unlock()
}

func keyJSON(k *Key) map[string]any {
	var limit, remaining any
	if k.Limit != nil {
		limit = json.RawMessage(k.Limit.String())
		remaining = json.RawMessage(max(*k.Limit-k.Usage, 0).String())
	}
	var reset any
	if k.LimitReset != "" {
		reset = k.LimitReset
	}
	usage := json.RawMessage(k.Usage.String())
	return map[string]any{
		"hash": k.Hash, "name": k.Name, "label": k.Secret[:12] + "..." + k.Secret[len(k.Secret)-3:],
		"disabled": k.Disabled, "limit": limit, "limit_remaining": remaining, "limit_reset": reset,
		"include_byok_in_limit": k.IncludeBYOKInLimit,
		"usage":                 json.RawMessage(k.TotalUsage.String()), "usage_daily": usage, "usage_weekly": usage, "usage_monthly": usage,
		"byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
		"created_at": k.CreatedAt.Format(time.RFC3339), "updated_at": k.UpdatedAt.Format(time.RFC3339),
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
