package controlplane_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// harness is the real control-plane handler on a database of its own.
type harness struct {
	t    *testing.T
	pool *pgxpool.Pool
	h    http.Handler
}

func setup(t *testing.T) *harness {
	t.Helper()
	return setupWith(t, func(*controlplane.Config) {})
}

// setupWith is setup with the configuration changed by edit.
func setupWith(t *testing.T, edit func(*controlplane.Config)) *harness {
	t.Helper()
	return setupWait(t, 10*time.Second, edit)
}

// setupWait is setupWith with writes that stop spending waiting at most
// leaseWait for data-plane leases.
func setupWait(t *testing.T, leaseWait time.Duration, edit func(*controlplane.Config)) *harness {
	t.Helper()
	pool := pgtest.NewPool(t)
	cfg := controlplane.Config{
		PublicURL: "http://example.com",
		DataURL:   "http://data.example.com",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	edit(&cfg)
	s, err := controlplane.New(controlplane.WithPostgres(cfg, pool, leaseWait))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, pool: pool, h: s.Handler()}
}

// browser is one person's browser: its own cookie jar on the real handler.
type browser struct {
	h       *harness
	mu      sync.Mutex
	cookies map[string]*http.Cookie
	last    []*http.Cookie // Set-Cookie of the last response
	c       *client.Client
	// remoteAddr, when set, is the client address of every request.
	remoteAddr string
}

func (h *harness) browser() *browser {
	b := &browser{h: h, cookies: map[string]*http.Cookie{}}
	b.c = client.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		for _, c := range b.cookies {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		if b.remoteAddr != "" {
			r.RemoteAddr = b.remoteAddr
		}
		b.mu.Unlock()
		h.h.ServeHTTP(w, r)
		resp := http.Response{Header: w.Header()}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.last = resp.Cookies()
		for _, c := range b.last {
			if c.MaxAge < 0 || c.Value == "" {
				delete(b.cookies, c.Name)
			} else {
				b.cookies[c.Name] = c
			}
		}
	}), client.Path("/graphql"))
	return b
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string  { s, _ := e.Extensions["code"].(string); return s }
func (e gqlError) field() string { s, _ := e.Extensions["field"].(string); return s }

// do runs a GraphQL operation and decodes data into out (when non-nil).
func (b *browser) do(query string, vars map[string]any, out any) []gqlError {
	b.h.t.Helper()
	var opts []client.Option
	for k, v := range vars {
		opts = append(opts, client.Var(k, v))
	}
	resp, err := b.c.RawPost(query, opts...)
	if err != nil {
		b.h.t.Fatalf("post %s: %v", query, err)
	}
	var errs []gqlError
	if len(resp.Errors) > 0 {
		if err := json.Unmarshal(resp.Errors, &errs); err != nil {
			b.h.t.Fatalf("decode errors %s: %v", resp.Errors, err)
		}
	}
	if out != nil && resp.Data != nil {
		raw, _ := json.Marshal(resp.Data)
		if err := json.Unmarshal(raw, out); err != nil {
			b.h.t.Fatalf("decode data %s: %v", raw, err)
		}
	}
	return errs
}

// mustDo runs an operation that must succeed.
func (b *browser) mustDo(query string, vars map[string]any, out any) {
	b.h.t.Helper()
	if errs := b.do(query, vars, out); len(errs) > 0 {
		b.h.t.Fatalf("%s: %+v", query, errs)
	}
}

// wantCode runs an operation that must fail with code (and field, if given).
func (b *browser) wantCode(code, field, query string, vars map[string]any) gqlError {
	b.h.t.Helper()
	errs := b.do(query, vars, nil)
	if len(errs) == 0 {
		b.h.t.Fatalf("%s: succeeded, want %s", query, code)
	}
	if errs[0].code() != code || (field != "" && errs[0].field() != field) {
		b.h.t.Fatalf("%s: got %+v, want code %s field %q", query, errs[0], code, field)
	}
	return errs[0]
}

const signUpMutation = `mutation($email: String!, $password: String!) {
  signUp(input: {email: $email, password: $password}) { account { id email isAdmin } }
}`

// signUp makes a browser signed in to a new account and returns its id.
func (h *harness) signUp(email string) (*browser, string) {
	h.t.Helper()
	b := h.browser()
	var out struct {
		SignUp struct{ Account struct{ ID string } }
	}
	b.mustDo(signUpMutation, map[string]any{"email": email, "password": "correct horse battery"}, &out)
	return b, out.SignUp.Account.ID
}

// count returns a single number from SQL.
func (h *harness) count(q string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (h *harness) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), q, args...); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
}

func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w
}
