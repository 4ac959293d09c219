package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// Limits on what one request may ask for.
const (
	// ComplexityLimit bounds a query's cost: each field costs 1 and a paged
	// list multiplies its children by first.
	ComplexityLimit = 5000
	// MaxQueryBytes bounds a request body.
	MaxQueryBytes = 64 << 10
	// ParserTokenLimit bounds the tokens of one query document.
	ParserTokenLimit = 5000
)

// HandlerConfig is what the GraphQL handler needs.
type HandlerConfig struct {
	DB       *pgxpool.Pool
	Sessions Sessions
	// Dev enables introspection.
	Dev       bool
	LeaseWait time.Duration
	Logger    *slog.Logger
}

// NewHandler returns the /graphql handler: POST for everything, GET for
// queries only, a complexity limit, a size limit, introspection only in dev,
// and per-request dataloaders. It expects the session middleware to have put
// the viewer in the request context (WithViewer).
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Resolver{
		accounts: &postgres.Accounts{DB: cfg.DB},
		apps:     &postgres.Apps{DB: cfg.DB, LeaseWait: cfg.LeaseWait},
		keys:     &postgres.Keys{DB: cfg.DB, LeaseWait: cfg.LeaseWait},
		conns:    &postgres.Connections{DB: cfg.DB, LeaseWait: cfg.LeaseWait},
		wallets:  &postgres.Wallets{DB: cfg.DB},
		usage:    &postgres.Usage{DB: cfg.DB},
		models:   &postgres.Models{DB: cfg.DB},
		sessions: cfg.Sessions,
		log:      cfg.Logger,
	}
	srv := handler.New(NewExecutableSchema(Config{
		Resolvers: r,
		Directives: DirectiveRoot{
			Auth: func(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
				if _, err := viewer(ctx); err != nil {
					return nil, err
				}
				return next(ctx)
			},
			Admin: func(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
				if _, err := adminViewer(ctx); err != nil {
					return nil, err
				}
				return next(ctx)
			},
		},
		Complexity: complexity(),
	}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(ParserTokenLimit)
	srv.Use(extension.FixedComplexityLimit(ComplexityLimit))
	if cfg.Dev {
		srv.Use(extension.Introspection{})
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	var h http.Handler = srv
	h = r.withLoaders(h)
	return limitBody(h)
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.ContentLength > MaxQueryBytes || len(req.URL.RawQuery) > MaxQueryBytes {
			http.Error(w, `{"errors":[{"message":"request too large","extensions":{"code":"`+wattfare.EINVALID+`"}}]}`, http.StatusRequestEntityTooLarge)
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, MaxQueryBytes)
		next.ServeHTTP(w, req)
	})
}
