package controlplane_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestEveryOperationIsExercised: every query and mutation of the schema,
// and every field that takes arguments, appears in a GraphQL document of
// this package's tests, which all run through the real handler. A field
// added to the schema without a test fails here.
func TestEveryOperationIsExercised(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gqlErr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(b)})
	if gqlErr != nil {
		t.Fatal(gqlErr)
	}
	files, _ := filepath.Glob("*_test.go")
	var tests strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(src)
	}
	text := tests.String()
	used := func(field string) bool {
		// The field as GraphQL selects it: its name, maybe aliased, then
		// arguments, a selection set, or the next field.
		return regexp.MustCompile(`[{\s:]` + field + `\s*[({\s}]`).MatchString(text)
	}
	for _, def := range schema.Types {
		if def.BuiltIn || def.Kind != ast.Object {
			continue
		}
		root := def.Name == "Query" || def.Name == "Mutation"
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") || (!root && len(f.Arguments) == 0) {
				continue
			}
			if !used(f.Name) {
				t.Errorf("%s.%s is never exercised through the handler", def.Name, f.Name)
			}
		}
	}
}
