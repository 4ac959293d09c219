package main

import (
	"context"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/internal/openroutertest"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestCatalogSyncCommand runs `wattfare catalog sync` against a fixture
// OpenRouter, then `--snapshot`, and reads what each left in the catalog.
func TestCatalogSyncCommand(t *testing.T) {
	url := pgtest.NewURL(t)
	fix := openroutertest.New(t)
	ctx := context.Background()
	two := 2000
	fix.SetModels([]openroutertest.Model{{
		ID: "acme/cli-model", Name: "CLI Model", ContextLength: 4000,
		Pricing:     openroutertest.Pricing{Prompt: "0.000001", Completion: "0.000004"},
		TopProvider: openroutertest.TopProvider{MaxCompletionTokens: &two},
	}})
	t.Setenv("DATABASE_URL", url)
	t.Setenv("WATTFARE_OPENROUTER_URL", fix.URL())
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	count := func(where string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM models WHERE `+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := runCatalog(ctx, []string{"sync"}); err != nil {
		t.Fatal(err)
	}
	if n := count(`id = 'acme/cli-model' AND enabled AND prompt_price = 1000000 AND completion_price = 4000000 AND max_output_tokens = 2000`); n != 1 {
		t.Fatal("catalog sync did not add the fixture's model at its prices")
	}
	// The seeded OpenRouter models are not in the fixture's list: disabled, kept.
	if n := count(`id = 'openai/gpt-4o' AND NOT enabled AND disabled_reason = '` + postgres.ReasonGone + `'`); n != 1 {
		t.Error("a model gone from the list is not disabled with its reason")
	}

	fix.FailModels(502)
	err = runCatalog(ctx, []string{"sync"})
	if err == nil || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("sync against a failing OpenRouter: %v", err)
	}

	if err := runCatalog(ctx, []string{"sync", "--snapshot"}); err != nil {
		t.Fatal(err)
	}
	if n := count(`upstream = 'openrouter' AND enabled`); n < 300 {
		t.Errorf("%d enabled OpenRouter models after --snapshot", n)
	}
	if n := count(`id = 'openai/gpt-4o' AND enabled`); n != 1 {
		t.Error("the snapshot did not re-enable gpt-4o")
	}
	if err := runCatalog(ctx, []string{"sync", "--snapshot=/nonexistent.json"}); err == nil {
		t.Error("a missing snapshot file synced")
	}
}
