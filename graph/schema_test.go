package graph_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestMoneyIsNeverAFloat: no field, argument or input of the schema is a
// Float, and everything named like an amount of money is Money.
func TestMoneyIsNeverAFloat(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("schema/*.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	var sources []*ast.Source
	for _, name := range append([]string{"../schema.graphqls"}, files...) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: name, Input: string(b)})
	}
	schema, gqlErr := gqlparser.LoadSchema(sources...)
	if gqlErr != nil {
		t.Fatal(gqlErr)
	}
	moneyName := regexp.MustCompile(`(?i)(cost|charged|amount|cap$|price|perMillion|credits|captured|held|spent|remaining|available|balance)`)
	check := func(where string, name string, typ *ast.Type) {
		base := typ
		for base.Elem != nil {
			base = base.Elem
		}
		if base.NamedType == "Float" {
			t.Errorf("%s.%s is a Float", where, name)
		}
		if moneyName.MatchString(name) && base.NamedType != "Money" && where != "Mutation" {
			t.Errorf("%s.%s looks like money but is %s", where, name, base.NamedType)
		}
	}
	n := 0
	for _, def := range schema.Types {
		if def.BuiltIn {
			continue
		}
		for _, f := range def.Fields {
			if len(f.Name) > 1 && f.Name[:2] == "__" {
				continue
			}
			check(def.Name, f.Name, f.Type)
			n++
			for _, a := range f.Arguments {
				check(def.Name+"."+f.Name, a.Name, a.Type)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d fields checked", n)
	}
}
