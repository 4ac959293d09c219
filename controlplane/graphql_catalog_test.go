package controlplane_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/graph"
)

// TestModelCatalogIsPriced: the model catalog is public and unpaged, so a
// document that aliases it many times is refused before any of it is read,
// while the catalog itself, with every field the admin console shows,
// answers.
func TestModelCatalogIsPriced(t *testing.T) {
	t.Parallel()
	h := setup(t)
	post := func(t *testing.T, q string) (int, []gqlError, json.RawMessage) {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q)))
		r.Header.Set("Content-Type", "application/json")
		w := h.serve(r)
		var resp struct {
			Data   json.RawMessage `json:"data"`
			Errors []gqlError      `json:"errors"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		return w.Code, resp.Errors, resp.Data
	}

	t.Run("ErrManyAliases", func(t *testing.T) {
		t.Parallel()
		var q strings.Builder
		q.WriteString("{")
		for i := range 100 {
			fmt.Fprintf(&q, " m%d: models { id }", i)
		}
		q.WriteString(" }")
		status, errs, data := post(t, q.String())
		if status != http.StatusUnprocessableEntity || len(errs) == 0 || errs[0].code() != graph.CodeComplexityLimit || (len(data) != 0 && string(data) != "null") {
			t.Fatalf("100 aliased catalogs, signed out: %d %+v, %d bytes of data, want 422 %s and no data", status, errs, len(data), graph.CodeComplexityLimit)
		}
	})
	t.Run("OKOneCatalog", func(t *testing.T) {
		t.Parallel()
		status, errs, data := post(t, `{ models { id displayName upstream upstreamModel kind enabled promptPerMillion completionPerMillion } }`)
		if status != http.StatusOK || len(errs) != 0 || !strings.Contains(string(data), "sandbox/echo") {
			t.Fatalf("one catalog: %d %+v %s", status, errs, data)
		}
	})
}
