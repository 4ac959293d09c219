package graph

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/wattfare/wattfare"
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

// HandlerConfig is what the GraphQL handler needs: the domain services its
// resolvers call, which cmd/wattfare builds (postgres's), and how the
// control plane signs browsers in and throttles them.
type HandlerConfig struct {
	Accounts    wattfare.AccountService
	Apps        wattfare.AppService
	Keys        wattfare.KeyService
	Connections wattfare.ConnectionService
	Wallets     wattfare.WalletService
	Payments    wattfare.PaymentService
	Usage       wattfare.UsageService
	Models      wattfare.ModelService
	// Backstop reports on the upstream backstop; nil when it is off.
	Backstop wattfare.BackstopService
	// Webhooks manages apps' webhook endpoints.
	Webhooks wattfare.WebhookService
	// Alerts are people's budget alerts.
	Alerts   wattfare.AlertService
	Sessions Sessions
	// Dev enables introspection.
	Dev bool
	// Throttle limits sign-in and sign-up attempts; nil means no limit.
	Throttle Throttle
	Logger   *slog.Logger
	// Metrics counts operations; nil: not counted.
	Metrics *Metrics
}

// NewHandler returns the /graphql handler: POST for everything, GET for
// queries only, a complexity limit, a size limit, introspection only in dev,
// and per-request dataloaders. It expects the session middleware to have put
// the viewer in the request context (WithViewer).
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Throttle == nil {
		cfg.Throttle = noThrottle{}
	}
	r := &Resolver{
		accounts: cfg.Accounts,
		apps:     cfg.Apps,
		keys:     cfg.Keys,
		conns:    cfg.Connections,
		wallets:  cfg.Wallets,
		payments: cfg.Payments,
		usage:    cfg.Usage,
		models:   cfg.Models,
		backstop: cfg.Backstop,
		webhooks: cfg.Webhooks,
		alerts:   cfg.Alerts,
		sessions: cfg.Sessions,
		throttle: cfg.Throttle,
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
	srv.Use(storableStrings{})
	if cfg.Dev {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
		// "Did you mean" would hand out the schema that introspection is
		// closed to hide, one guessed name at a time.
		srv.SetDisableSuggestion(true)
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	if cfg.Metrics != nil {
		srv.Use(operationMetrics{cfg.Metrics})
	}
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	observeFields(srv)
	var h http.Handler = srv
	h = r.withLoaders(h)
	return limitBody(h)
}

// rulesWithoutSuggestions is GraphQL's validation without "Did you mean"
// in its messages. gqlgen's SetDisableSuggestion swaps only the field and
// subselection rules; argument names, type names and enum values suggest
// too.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, rule := range []core.Rule{
		rules.FieldsOnCorrectTypeRuleWithoutSuggestions,
		rules.ScalarLeafsRuleWithoutSuggestions,
		rules.KnownArgumentNamesRuleWithoutSuggestions,
		rules.KnownTypeNamesRuleWithoutSuggestions,
		rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
	} {
		r.RemoveRule(strings.TrimSuffix(rule.Name, "WithoutSuggestions"))
		r.AddRule(rule.Name, rule.RuleFunc)
	}
	return r
}

// CodeComplexityLimit is the extensions.code of a query over
// ComplexityLimit; it is answered 422 like a query that does not parse.
const CodeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"

// CodeRequestTooLarge is the extensions.code of a request body or query
// string over MaxQueryBytes, answered 413: wattfare.ERequestTooLarge as
// ExtensionCode spells it (a test checks), a constant because limitBody
// answers before gqlgen's presenter could.
const CodeRequestTooLarge = "REQUEST_TOO_LARGE"

func init() {
	// gqlgen's complexity extension sets the code but does not register it
	// as a protocol error, so its transports would answer 200: a client that
	// checks the status would take the refusal for a result.
	errcode.RegisterErrorType(CodeComplexityLimit, errcode.KindProtocol)
}

// limitBody refuses a request over MaxQueryBytes with 413 before gqlgen sees
// it. A body without a Content-Length (chunked) is read up to the limit
// here: gqlgen's POST transport would answer a truncated body 200.
func limitBody(next http.Handler) http.Handler {
	tooLarge := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, `{"errors":[{"message":"request too large: at most `+strconv.Itoa(MaxQueryBytes)+` bytes","extensions":{"code":"`+CodeRequestTooLarge+`"}}],"data":null}`)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.ContentLength > MaxQueryBytes || len(req.URL.RawQuery) > MaxQueryBytes {
			tooLarge(w)
			return
		}
		if req.Body != nil && req.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(req.Body, MaxQueryBytes+1))
			if err != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errors":[{"message":"could not read the request body","extensions":{"code":"`+ExtensionCode(wattfare.EINVALID)+`"}}],"data":null}`)
				return
			}
			if len(body) > MaxQueryBytes {
				tooLarge(w)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, req)
	})
}
