package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/wattfare/wattfare"
)

// presentError translates errors once, at the GraphQL edge: a
// *wattfare.Error becomes its message with extensions.code (and
// extensions.field, and its metadata such as retryAfterSeconds or stopsBy); gqlgen's own input and validation errors keep their
// message; anything else is logged and shown as INTERNAL with no detail.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var we *wattfare.Error
		if errors.As(err, &we) {
			if we.Code == wattfare.EINTERNAL {
				return internal(ctx, log, gqlErr, err)
			}
			gqlErr.Message = we.Message
			ext := make(map[string]any, len(we.Metadata)+2)
			for k, v := range we.Metadata {
				ext[k] = v
			}
			ext["code"] = ExtensionCode(we.Code)
			if we.Field != "" {
				ext["field"] = we.Field
			}
			gqlErr.Extensions = ext
			return gqlErr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// gqlgen's own messages (bad enum, null for a non-null input...)
			// describe the caller's input, not our internals.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			if _, ok := gqlErr.Extensions["code"]; !ok {
				gqlErr.Extensions["code"] = wattfare.EINVALID
			}
			return gqlErr
		}
		return internal(ctx, log, gqlErr, err)
	}
}

// ExtensionCode is how a domain error code reads in extensions.code: upper
// case, as GraphQL APIs spell codes, so that wattfare.ERateLimited
// ("rate_limited", as the data plane sends it) is "RATE_LIMITED" here.
func ExtensionCode(code string) string { return strings.ToUpper(code) }

func internal(ctx context.Context, log *slog.Logger, gqlErr *gqlerror.Error, err error) *gqlerror.Error {
	log.ErrorContext(ctx, "graphql: internal error", "path", gqlErr.Path.String(), "err", err)
	return &gqlerror.Error{
		Message:    "internal error",
		Path:       gqlErr.Path,
		Locations:  gqlErr.Locations,
		Extensions: map[string]any{"code": wattfare.EINTERNAL},
	}
}

// recoverPanic turns a resolver panic into an INTERNAL error after logging it.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", p)
		return fmt.Errorf("panic: %v", p)
	}
}
