// Package graph is the control plane's GraphQL API (gqlgen, schema-first):
// generated execution code, thin resolvers that call the domain services
// (the root package's interfaces, which HandlerConfig hands in),
// auth directives, per-request dataloaders and the error presenter.
package graph

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph/model"
)

// Sessions starts and ends dashboard sessions on the current HTTP exchange
// (the cookie lives there, not in GraphQL). The control plane implements it.
type Sessions interface {
	Start(ctx context.Context, accountID string) error
	End(ctx context.Context) (bool, error)
}

// Throttle bounds how fast one client may try to sign in or sign up. Begin
// takes an attempt of action ("signIn", "signUp") for email, or refuses it
// with a wattfare.ERateLimited error; the caller reports the outcome with done, and a
// successful sign-in may be given back. The control plane implements it, as
// it knows the client's address.
type Throttle interface {
	Begin(ctx context.Context, action, email string) (done func(ok bool), err error)
}

type noThrottle struct{}

func (noThrottle) Begin(context.Context, string, string) (func(bool), error) {
	return func(bool) {}, nil
}

// Resolver holds the services resolvers call: the root package's
// interfaces, whatever implements them (cmd/wattfare wires postgres's).
type Resolver struct {
	accounts wattfare.AccountService
	apps     wattfare.AppService
	keys     wattfare.KeyService
	conns    wattfare.ConnectionService
	wallets  wattfare.WalletService
	payments wattfare.PaymentService
	usage    wattfare.UsageService
	models   wattfare.ModelService
	backstop wattfare.BackstopService // nil: the backstop is off
	webhooks wattfare.WebhookService
	alerts   wattfare.AlertService
	sessions Sessions
	throttle Throttle
	log      *slog.Logger
}

type viewerKey struct{}

// WithViewer returns ctx carrying the signed-in account. The session
// middleware calls it; resolvers and directives read it with ViewerFrom.
func WithViewer(ctx context.Context, v model.Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the signed-in account of ctx, if any.
func ViewerFrom(ctx context.Context) (model.Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(model.Viewer)
	return v, ok && v.AccountID != ""
}

func errUnauthenticated() error {
	return wattfare.Errorf(wattfare.EUNAUTHENTICATED, "sign in first")
}

// viewer returns the signed-in account or EUNAUTHENTICATED. Resolvers call it
// even under @auth, so that a field that lost its directive still fails closed.
func viewer(ctx context.Context) (model.Viewer, error) {
	v, ok := ViewerFrom(ctx)
	if !ok {
		return model.Viewer{}, errUnauthenticated()
	}
	return v, nil
}

// adminViewer returns the signed-in admin, EUNAUTHENTICATED or EFORBIDDEN.
func adminViewer(ctx context.Context) (model.Viewer, error) {
	v, err := viewer(ctx)
	if err != nil {
		return v, err
	}
	if !v.IsAdmin {
		return v, wattfare.Errorf(wattfare.EFORBIDDEN, "admins only")
	}
	return v, nil
}

// authorizeApp lets the app's owner and admins see an app's private fields;
// anyone else gets NOT_FOUND, as if the app did not exist.
func authorizeApp(ctx context.Context, a *wattfare.AppDetails) error {
	v, err := viewer(ctx)
	if err != nil {
		return err
	}
	if a == nil || (a.OwnerID != v.AccountID && !v.IsAdmin) {
		return wattfare.Errorf(wattfare.ENOTFOUND, "no such app")
	}
	return nil
}

// committed lets a write's result through when its only error is that the
// data plane has yet to catch up (wattfare.EPROPAGATIONPENDING): the write
// committed, so the caller gets its result, and the error goes to the
// response's errors with its code and stopsBy, never in place of the result.
func committed(ctx context.Context, err error) error {
	if wattfare.ErrorCode(err) == wattfare.EPROPAGATIONPENDING {
		graphql.AddError(ctx, err)
		return nil
	}
	return err
}

func pageOf(first *int, after *string) wattfare.Page {
	p := wattfare.Page{First: 20}
	if first != nil {
		p.First = *first
	}
	if after != nil {
		p.After = *after
	}
	return p
}

func pageInfo[T any](p wattfare.Paged[T]) *model.PageInfo {
	return &model.PageInfo{HasNextPage: p.HasNext, EndCursor: p.EndCursor(), HasPreviousPage: p.HasPrev, StartCursor: p.StartCursor()}
}

func ptrs[T any](xs []T) []*T {
	out := make([]*T, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}
