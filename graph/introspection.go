package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/wattfare/wattfare"
)

// noIntrospection refuses, outside dev, an operation that asks for
// __schema or __type, with FORBIDDEN. Without it gqlgen answers such a
// field with a plain error, which the presenter can only show (and log) as
// INTERNAL.
type noIntrospection struct{}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Doc == nil {
		return nil
	}
	refused := &gqlerror.Error{
		Message:    "introspection is off outside dev; the schema is schema.graphqls in the repository",
		Extensions: map[string]any{"code": wattfare.EFORBIDDEN},
	}
	for _, op := range rc.Doc.Operations {
		if introspects(op.SelectionSet) {
			return refused
		}
	}
	for _, f := range rc.Doc.Fragments {
		if introspects(f.SelectionSet) {
			return refused
		}
	}
	return nil
}

func introspects(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" || introspects(s.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet) {
				return true
			}
		}
	}
	return false
}
