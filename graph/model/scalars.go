// Package model holds the GraphQL-only types of the control-plane API and
// its custom scalars. Domain results are bound to the root package's types
// (see gqlgen.yml), never to an adapter's.
package model

import (
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/wattfare/wattfare"
)

// MarshalMoney writes Money as a JSON string of its exact decimal form,
// never as a number a client could turn into a float.
func MarshalMoney(m wattfare.Money) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		b := make([]byte, 0, 24)
		b = append(b, '"')
		b = m.AppendDecimal(b)
		b = append(b, '"')
		w.Write(b)
	})
}

// UnmarshalMoney reads Money from a decimal string ("10.50"), a JSON number
// in variables (parsed from its digits, exactly) or an integer literal.
// A float literal in the query text has already been through a binary float
// and is refused.
func UnmarshalMoney(v any) (wattfare.Money, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float32, float64:
		return 0, wattfare.Errorf(wattfare.EINVALID, "Money must be a decimal string such as \"10.50\", not a float")
	default:
		return 0, wattfare.Errorf(wattfare.EINVALID, "Money must be a decimal string such as \"10.50\"")
	}
	m, err := wattfare.ParseMoney(s)
	if err != nil {
		return 0, wattfare.Errorf(wattfare.EINVALID, "Money must be a decimal string with at most nine decimal places, such as \"10.50\"")
	}
	return m, nil
}

// MarshalTime writes a time as RFC 3339 in UTC (null for the zero time).
func MarshalTime(t time.Time) graphql.Marshaler {
	if t.IsZero() {
		return graphql.Null
	}
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 timestamp, with its offset. Anything else
// is the caller's mistake (INVALID_INPUT), not the server's: gqlgen's own
// Time scalar returns plain errors, which would be shown as INTERNAL.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, wattfare.Errorf(wattfare.EINVALID, "Time must be an RFC 3339 string such as \"2026-03-01T00:00:00Z\"")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, wattfare.Errorf(wattfare.EINVALID, "Time must be an RFC 3339 string such as \"2026-03-01T00:00:00Z\", not %q", truncate(s, 40))
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Viewer is the signed-in account. Its fields resolve for that account only.
type Viewer struct {
	AccountID string
	IsAdmin   bool
}

// Admin is the platform admin console; reaching it requires @admin.
type Admin struct{}
