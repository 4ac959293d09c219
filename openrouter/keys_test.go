package openrouter_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/openroutertest"
	"github.com/wattfare/wattfare/openrouter"
)

func money(s string) wattfare.Money {
	m, err := wattfare.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

func chat(t *testing.T, base, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"one two three"}],"max_tokens":10}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A key's life as the backstop lives it, against the fixture written from
// OpenRouter's documentation: created with a monthly limit, spent to the
// limit (then refused with 403), raised, disabled, deleted.
func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	fx := openroutertest.New(t)
	base := fx.URL() + "/api/v1"
	// $1 per million prompt and $2 per million completion tokens: a call
	// of 3 prompt and 10 completion tokens costs $0.000023.
	keys := &openrouter.Keys{BaseURL: base, ManagementKey: openroutertest.ManagementKey}
	ctx := context.Background()
	created, err := keys.Create(ctx, openrouter.NewKey{Name: "conn_1", Limit: money("0.00004"), LimitReset: openrouter.ResetMonthly, IncludeBYOKInLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "sk-or-v1-") || created.Hash == "" {
		t.Fatalf("created %+v", created.Key)
	}
	fk, _ := fx.KeyNamed("conn_1")
	if fk.Limit == nil || *fk.Limit != money("0.00004") || fk.LimitReset != "monthly" || !fk.IncludeBYOKInLimit {
		t.Fatalf("OpenRouter holds %+v", fk)
	}
	for i := 0; i < 3; i++ { // usage 0.000046 ≥ 0.00004 after two: the third is refused (as on OpenRouter, a request that starts under the limit may end over it)
		want := 200
		if i == 2 {
			want = 403
		}
		if got := chat(t, base, created.Secret); got != want {
			t.Fatalf("call %d: %d, want %d", i+1, got, want)
		}
	}
	k, err := keys.Get(ctx, created.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if k.UsageMonthly.Money != money("0.000046") {
		t.Fatalf("usage_monthly %s, want 0.000046", k.UsageMonthly.Money)
	}
	limit := money("1")
	if _, err := keys.Update(ctx, created.Hash, openrouter.KeyUpdate{Limit: &limit}); err != nil {
		t.Fatal(err)
	}
	if got := chat(t, base, created.Secret); got != 200 {
		t.Fatalf("after raising the limit: %d", got)
	}
	yes := true
	if k, err := keys.Update(ctx, created.Hash, openrouter.KeyUpdate{Disabled: &yes}); err != nil || !k.Disabled {
		t.Fatalf("disable: %+v %v", k, err)
	}
	if got := chat(t, base, created.Secret); got != 401 {
		t.Fatalf("disabled key: %d", got)
	}
	if err := keys.Delete(ctx, created.Hash); err != nil {
		t.Fatal(err)
	}
	if err := keys.Delete(ctx, created.Hash); err != nil {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	if _, err := keys.Get(ctx, created.Hash); !openrouter.NotFound(err) {
		t.Fatalf("get deleted: %v", err)
	}
	for _, c := range fx.KeyCalls() {
		for _, v := range c.Body {
			if s, ok := v.(string); ok && strings.Contains(s, "sk-or-v1-") {
				t.Fatalf("%s %s sent a secret: %v", c.Method, c.Path, c.Body)
			}
		}
	}
}

func TestKeysErrors(t *testing.T) {
	t.Parallel()
	fx := openroutertest.New(t)
	ctx := context.Background()
	keys := &openrouter.Keys{BaseURL: fx.URL() + "/api/v1", ManagementKey: openroutertest.ManagementKey}
	t.Run("ErrDown", func(t *testing.T) {
		fx.FailKeys(503)
		defer fx.FailKeys(0)
		_, err := keys.Create(ctx, openrouter.NewKey{Name: "c", Limit: wattfare.USD(1)})
		var ae *openrouter.APIError
		if !errors.As(err, &ae) || ae.Status != 503 || !ae.Temporary() {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ErrNotManagementKey", func(t *testing.T) {
		bad := &openrouter.Keys{BaseURL: keys.BaseURL, ManagementKey: openroutertest.APIKey}
		_, err := bad.Create(ctx, openrouter.NewKey{Name: "c", Limit: wattfare.USD(1)})
		var ae *openrouter.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Temporary() {
			t.Fatalf("%v", err)
		}
	})
}
