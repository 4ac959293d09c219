package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/wattfare/wattfare"
)

// loaders batch the lookups of nested lists (a page of connections or
// receipts → their apps, usage rows → their models, apps → their owners
// and their keys)
// into one query per list. They live for one request, so nothing is cached
// across requests or viewers.
type loaders struct {
	apps     *dataloadgen.Loader[string, *wattfare.AppDetails]
	accounts *dataloadgen.Loader[string, *wattfare.Account]
	models   *dataloadgen.Loader[string, *wattfare.ModelPrice]
	// appKeys are an app's keys in both modes, newest first.
	appKeys *dataloadgen.Loader[string, []wattfare.APIKey]
}

type loadersKey struct{}

func batch[V any](load func(context.Context, []string) ([]*V, error)) func(context.Context, []string) ([]*V, []error) {
	return func(ctx context.Context, ids []string) ([]*V, []error) {
		vs, err := load(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		return vs, nil
	}
}

func (r *Resolver) newLoaders() *loaders {
	opts := []dataloadgen.Option{dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(200)}
	return &loaders{
		apps:     dataloadgen.NewLoader(batch(r.apps.ByIDs), opts...),
		accounts: dataloadgen.NewLoader(batch(r.accounts.ByIDs), opts...),
		models:   dataloadgen.NewLoader(batch(r.models.ByIDs), opts...),
		appKeys: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]wattfare.APIKey, []error) {
			keys, err := r.keys.ForApps(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			return keys, nil
		}, opts...),
	}
}

// withLoaders is the middleware that gives each request its own loaders.
func (r *Resolver) withLoaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), loadersKey{}, r.newLoaders())
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

func (r *Resolver) loadersFor(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return r.newLoaders() // called outside the middleware (tests): unbatched but correct
}

func (r *Resolver) loadApp(ctx context.Context, id string) (*wattfare.AppDetails, error) {
	a, err := r.loadersFor(ctx).apps.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, wattfare.Errorf(wattfare.ENOTFOUND, "no such app")
	}
	return a, nil
}
