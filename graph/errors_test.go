package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/wattfare/wattfare"
)

func TestPresentError(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	present := presentError(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := graphql.WithPathContext(context.Background(), graphql.NewPathWithField("app"))

	t.Run("OK", func(t *testing.T) {
		e := present(ctx, fmt.Errorf("update app: %w", wattfare.InvalidField("allowedOrigins", "not an exact origin")))
		if e.Message != "not an exact origin" || e.Extensions["code"] != wattfare.EINVALID || e.Extensions["field"] != "allowedOrigins" {
			t.Fatalf("presented %+v", e)
		}
	})
	t.Run("CodeUpperCased", func(t *testing.T) {
		// One vocabulary: the data plane's lowercase code is GraphQL's
		// upper-case one, and the wire keeps its spelling.
		err := &wattfare.Error{Code: wattfare.ERateLimited, Message: "too many attempts", Metadata: map[string]any{"retryAfterSeconds": 3}}
		e := present(ctx, err)
		if e.Extensions["code"] != "RATE_LIMITED" || e.Extensions["retryAfterSeconds"] != 3 {
			t.Fatalf("presented %+v", e)
		}
		if CodeRequestTooLarge != ExtensionCode(wattfare.ERequestTooLarge) {
			t.Fatalf("CodeRequestTooLarge is %s, the presenter says %s", CodeRequestTooLarge, ExtensionCode(wattfare.ERequestTooLarge))
		}
	})
	t.Run("ErrInternalHidden", func(t *testing.T) {
		e := present(ctx, errors.New(`pq: relation "secret_table" does not exist`))
		if e.Message != "internal error" || e.Extensions["code"] != wattfare.EINTERNAL || strings.Contains(fmt.Sprint(e), "secret_table") {
			t.Fatalf("presented %+v", e)
		}
		if !strings.Contains(logs.String(), "secret_table") {
			t.Fatal("internal error not logged")
		}
	})
	t.Run("ErrInternalCodeHidden", func(t *testing.T) {
		e := present(ctx, wattfare.Errorf(wattfare.EINTERNAL, "disk on fire at /var/lib"))
		if e.Message != "internal error" || strings.Contains(e.Message, "/var/lib") {
			t.Fatalf("presented %+v", e)
		}
	})
}
