package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
)

// FieldObserver is told the object and field name ("Query", "me") of a
// field a handler resolved without error. It is called concurrently.
type FieldObserver func(object, field string)

var fieldObserver atomic.Pointer[FieldObserver]

// ObserveFields makes every handler NewHandler builds from now on tell obs
// of each field it resolves without error. The control plane's tests set
// it before they run, to list the schema fields none of them resolved
// (controlplane/graphql_coverage_test.go); nothing else does, and a handler
// built without it has no field middleware at all.
func ObserveFields(obs FieldObserver) {
	fieldObserver.Store(&obs)
}

// observeFields installs ObserveFields' observer, if there is one, on srv.
func observeFields(srv *handler.Server) {
	p := fieldObserver.Load()
	if p == nil {
		return
	}
	obs := *p
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		res, err := next(ctx)
		if fc := graphql.GetFieldContext(ctx); fc != nil && err == nil {
			obs(fc.Object, fc.Field.Name)
		}
		return res, err
	})
}
