package postgres

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wattfare/wattfare"
)

// cursorKey is the keyset position of an item: (created_at, id), both
// descending.
type cursorKey struct {
	At time.Time
	ID string
}

func (k cursorKey) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(k.At.UnixMicro(), 10) + "|" + k.ID))
}

func decodeCursor(s string) (*cursorKey, error) {
	if s == "" {
		return nil, nil
	}
	bad := wattfare.InvalidField("after", "malformed cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	micros, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return nil, bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return nil, bad
	}
	return &cursorKey{At: time.UnixMicro(us).UTC(), ID: id}, nil
}

// newPage returns the page of the first n of items, which a query fetched
// n+1 of to learn whether more follow, with a cursor per item.
func newPage[T any](items []T, n int, hasPrev bool, key func(T) cursorKey) wattfare.Paged[T] {
	out := wattfare.Paged[T]{HasPrev: hasPrev}
	if len(items) > n {
		items, out.HasNext = items[:n], true
	}
	out.Items = items
	out.Cursors = make([]string, len(items))
	for i, it := range items {
		out.Cursors[i] = key(it).encode()
	}
	return out
}

// fetchPage reads one page through fetch, a generated query: fetch gets the
// position of p's cursor (nil for the first page) and how many rows to
// read, one more than the page, to learn whether more follow.
func fetchPage[T any](p wattfare.Page, fetch func(after *cursorKey, limit int32) ([]T, error), key func(T) cursorKey) (wattfare.Paged[T], error) {
	n, err := p.Check()
	if err != nil {
		return wattfare.Paged[T]{}, err
	}
	after, err := decodeCursor(p.After)
	if err != nil {
		return wattfare.Paged[T]{}, err
	}
	items, err := fetch(after, int32(n+1))
	if err != nil {
		return wattfare.Paged[T]{}, fmt.Errorf("list: %w", err)
	}
	return newPage(items, n, after != nil, key), nil
}

// at is the cursor's time, nil for no cursor: a query's sqlc.narg(after_at).
func (k *cursorKey) at() *time.Time {
	if k == nil {
		return nil
	}
	return &k.At
}

// id is the cursor's id, nil for no cursor: a query's sqlc.narg(after_id).
func (k *cursorKey) id() *string {
	if k == nil {
		return nil
	}
	return &k.ID
}
