package graph

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/wattfare/wattfare"
)

// storableStrings refuses an operation any of whose string inputs (in
// variables or written in the query) holds a NUL character or invalid
// UTF-8. Postgres cannot store or even compare such text, so without this a
// NUL in an id, a name or a cursor would reach the database and come back
// as INTERNAL instead of the caller's INVALID_INPUT.
type storableStrings struct{}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = storableStrings{}

func (storableStrings) ExtensionName() string                   { return "StorableStrings" }
func (storableStrings) Validate(graphql.ExecutableSchema) error { return nil }

func (storableStrings) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	for name, v := range rc.Variables {
		if !storableValue(v) {
			return unstorable(name)
		}
	}
	if rc.Doc == nil {
		return nil
	}
	for _, op := range rc.Doc.Operations {
		if name, ok := storableSelections(op.SelectionSet); !ok {
			return unstorable(name)
		}
	}
	for _, f := range rc.Doc.Fragments {
		if name, ok := storableSelections(f.SelectionSet); !ok {
			return unstorable(name)
		}
	}
	return nil
}

func unstorable(name string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "text inputs must be valid UTF-8 without NUL characters",
		Extensions: map[string]any{"code": wattfare.EINVALID, "field": name},
	}
}

func storableString(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func storableValue(v any) bool {
	switch x := v.(type) {
	case string:
		return storableString(x)
	case []any:
		for _, e := range x {
			if !storableValue(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range x {
			if !storableString(k) || !storableValue(e) {
				return false
			}
		}
	}
	return true
}

func storableSelections(set ast.SelectionSet) (string, bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, a := range s.Arguments {
				if !storableLiteral(a.Value) {
					return a.Name, false
				}
			}
			if name, ok := storableSelections(s.SelectionSet); !ok {
				return name, false
			}
		case *ast.InlineFragment:
			if name, ok := storableSelections(s.SelectionSet); !ok {
				return name, false
			}
		}
	}
	return "", true
}

func storableLiteral(v *ast.Value) bool {
	if v == nil {
		return true
	}
	if (v.Kind == ast.StringValue || v.Kind == ast.BlockValue) && !storableString(v.Raw) {
		return false
	}
	for _, c := range v.Children {
		if !storableLiteral(c.Value) {
			return false
		}
	}
	return true
}
