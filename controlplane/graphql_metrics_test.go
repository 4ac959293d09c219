package controlplane_test

import (
	"testing"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/graph"
)

// TestGraphQLOperationMetrics: /metrics counts each operation by name and
// outcome, an error by its code, and an anonymous one as such.
func TestGraphQLOperationMetrics(t *testing.T) {
	t.Parallel()
	m := graph.NewMetrics()
	h := setupWith(t, func(c *controlplane.Config) { c.GraphQLMetrics = m })
	b, _ := h.signUp("metrics@example.com")
	var out map[string]any
	for range 3 {
		b.mustDo(`query Me { me { account { email } } }`, nil, &out)
	}
	anon := h.browser()
	anon.wantCode("UNAUTHENTICATED", "", `query App { app(id: "app_none") { id } }`, nil)
	b.mustDo(`{ me { account { id } } }`, nil, &out)

	got := map[[3]string]uint64{}
	m.EachOperation(func(typ, name, outcome string, n uint64) { got[[3]string{typ, name, outcome}] = n })
	for k, want := range map[[3]string]uint64{
		{"query", "Me", "ok"}:               3,
		{"query", "App", "UNAUTHENTICATED"}: 1,
		{"query", "anonymous", "ok"}:        1,
	} {
		if got[k] != want {
			t.Errorf("%v counted %d times, want %d (all: %v)", k, got[k], want, got)
		}
	}
}
