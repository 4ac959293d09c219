package controlplane_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestNoSuggestionsOutsideDev: with introspection closed, "Did you mean"
// in validation errors would still spell the schema out to anyone guessing
// names. Outside dev every mistake is refused without naming what exists;
// in dev the suggestions stay, for the developer at the playground.
func TestNoSuggestionsOutsideDev(t *testing.T) {
	t.Parallel()
	mistakes := map[string]string{
		"Field":       `{ modls { id } }`,
		"Subfields":   `{ models }`,
		"Argument":    `{ me { apps(frist: 1) { edges { node { id } } } } }`,
		"Type":        `{ me { ...F } } fragment F on Viewr { account { id } }`,
		"EnumValue":   `{ me { connections(mode: TES) { edges { node { id } } } } }`,
		"InputField":  `mutation { signIn(input: {emial: "a@example.com", password: "correct horse battery"}) { account { id } } }`,
		"FieldOfType": `{ me { account { emal } } }`,
	}
	for _, dev := range []bool{false, true} {
		pool := pgtest.NewPool(t)
		s, err := controlplane.New(controlplane.WithPostgres(controlplane.Config{PublicURL: "http://example.com", Dev: dev,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pool, 0))
		if err != nil {
			t.Fatal(err)
		}
		h := &harness{t: t, pool: pool, h: s.Handler()}
		suggested := 0
		for name, q := range mistakes {
			r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q)))
			r.Header.Set("Content-Type", "application/json")
			w := h.serve(r)
			var resp struct{ Errors []gqlError }
			json.Unmarshal(w.Body.Bytes(), &resp)
			errs := resp.Errors
			if w.Code != http.StatusUnprocessableEntity || len(errs) == 0 || errs[0].code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("dev=%v %s: %d %s, want a validation error", dev, name, w.Code, w.Body)
			}
			for _, e := range errs {
				if strings.Contains(e.Message, "Did you mean") {
					suggested++
					if !dev {
						t.Errorf("%s: %q suggests a name outside dev", name, e.Message)
					}
				}
			}
		}
		if dev && suggested != len(mistakes) {
			t.Errorf("dev: %d of %d mistakes got a suggestion, want all", suggested, len(mistakes))
		}
	}
}
