package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/wattfare/wattfare/internal/metric"
)

// Metrics counts GraphQL operations by type, name and outcome ("ok" or the
// first error's extensions.code), for the control plane's /metrics. Names
// come from clients, so at most maxOperationSeries are kept; the rest count
// as "other".
type Metrics struct {
	ops metric.Counters
}

const maxOperationSeries = 500

// NewMetrics returns an empty set of counters.
func NewMetrics() *Metrics { return &Metrics{ops: metric.Counters{Max: maxOperationSeries}} }

// EachOperation calls f with every counted (type, name, outcome).
func (m *Metrics) EachOperation(f func(typ, name, outcome string, n uint64)) {
	m.ops.Each(func(k string, n uint64) {
		if k == metric.Other {
			f(metric.Other, metric.Other, metric.Other, n)
			return
		}
		parts := strings.SplitN(k, "\x00", 3)
		f(parts[0], parts[1], parts[2], n)
	})
}

// operationMetrics is the handler extension that counts each response.
type operationMetrics struct{ m *Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = operationMetrics{}

func (operationMetrics) ExtensionName() string                   { return "OperationMetrics" }
func (operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }
func (o operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	typ, name := "unknown", "anonymous"
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil {
			typ = string(oc.Operation.Operation)
		}
		if oc.OperationName != "" {
			name = oc.OperationName
		} else if oc.Operation != nil && oc.Operation.Name != "" {
			name = oc.Operation.Name
		}
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
		if c, ok := resp.Errors[0].Extensions["code"].(string); ok && c != "" {
			outcome = c
		}
	}
	o.m.ops.Add(typ+"\x00"+name+"\x00"+outcome, 1)
	return resp
}
