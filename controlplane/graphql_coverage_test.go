package controlplane_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/wattfare/wattfare/graph"
)

// resolved records the fields ("Query.me") that the handlers of this
// package's tests resolved without error, through graph.ObserveFields.
var resolved sync.Map

// TestMain runs the package's tests with every GraphQL handler recording
// the fields it resolves, then, when the whole suite ran and passed, fails
// unless each field of the schema was resolved by some test or is listed in
// untestedFields (unresolvedFields).
func TestMain(m *testing.M) {
	graph.ObserveFields(func(object, field string) { resolved.Store(object+"."+field, true) })
	code := m.Run()
	if code == 0 && wholeSuite() {
		if missing := unresolvedFields(); len(missing) > 0 {
			fmt.Printf("--- FAIL: field coverage (controlplane/graphql_coverage_test.go)\n"+
				"    schema fields no test resolved through the handler (test them, or list them in untestedFields with the reason), and stale untestedFields entries:\n        %s\n",
				strings.Join(missing, "\n        "))
			fmt.Println("FAIL")
			code = 1
		}
	}
	os.Exit(code)
}

// untestedFields are the schema fields no test here resolves, each with
// why. A field tested later must leave the list (unresolvedFields says so).
// All of them are plain fields of a row the resolvers return; what is not
// tested is that the query fills them.
var untestedFields = map[string]string{
	"Account.createdAt":           "a column read as is; no test selects it",
	"Account.displayName":         "signUp takes it; no test reads it back",
	"AccountEdge.cursor":          "made by the edges helper AppEdge.cursor's tests exercise; the admin account list is not paged in a test",
	"AccountPage.pageInfo":        "made by the pageInfo helper the app and connection pages' tests check; the admin account list is not paged in a test",
	"ApiKey.createdAt":            "a column read as is; no test selects it",
	"App.createdAt":               "a column read as is; no test selects it",
	"App.suspendedAt":             "the suspension tests read suspendedReason, not its time",
	"AppUsage.completionTokens":   "summed by the usage query whose cost the admin tests check; the token sums are not",
	"AppUsage.promptTokens":       "summed by the usage query whose cost the admin tests check; the token sums are not",
	"AppUsage.requests":           "summed by the usage query whose cost the admin tests check; the request count is not",
	"Connection.createdAt":        "a column read as is; no test selects it",
	"Connection.revokedAt":        "the revoke tests read status REVOKED, not its time",
	"LedgerEdge.cursor":           "made by the edges helper; the wallet test reads one page of the ledger",
	"LedgerEntry.createdAt":       "the wallet test reads kind, amount and description",
	"LedgerEntry.id":              "the wallet test reads kind, amount and description",
	"LedgerPage.pageInfo":         "made by the pageInfo helper; the wallet test reads one page of the ledger",
	"Model.maxOutputTokens":       "a catalog column the OpenRouter sync fills; no client reads it yet",
	"ModelUsage.completionTokens": "summed by the usage query whose cost the tests check; the token sums are not",
	"ModelUsage.promptTokens":     "summed by the usage query whose cost the tests check; the token sums are not",
	"ReceiptEdge.cursor":          "made by the edges helper; the receipts test pages with pageInfo.endCursor",
	"UserUsage.completionTokens":  "summed by the usage query whose cost the tests check; the token sums are not",
	"UserUsage.promptTokens":      "summed by the usage query whose cost the tests check; the token sums are not",
}

// wholeSuite reports whether every test of the package ran: coverage means
// nothing for a run narrowed by -run, -skip or -short.
func wholeSuite() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// unresolvedFields lists the fields of the schema's object types, as gqlgen
// generated it from schema.graphqls, that no test resolved and that are not
// in untestedFields, and the entries of untestedFields that a test did
// resolve or that are not in the schema. Introspection is left out.
func unresolvedFields() []string {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var out []string
	inSchema := map[string]bool{}
	for _, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(def.Name, "__") || def.Kind != ast.Object {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			name := def.Name + "." + f.Name
			inSchema[name] = true
			_, ok := resolved.Load(name)
			_, allowed := untestedFields[name]
			switch {
			case !ok && !allowed:
				out = append(out, name)
			case ok && allowed:
				out = append(out, name+" (resolved now: take it out of untestedFields)")
			}
		}
	}
	for name := range untestedFields {
		if !inSchema[name] {
			out = append(out, name+" (in untestedFields but not in the schema)")
		}
	}
	sort.Strings(out)
	return out
}
