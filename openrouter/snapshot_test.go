package openrouter

import (
	"strings"
	"testing"
)

func TestSnapshotParses(t *testing.T) {
	t.Parallel()
	es, err := ParseModels(Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 300 {
		t.Fatalf("snapshot has %d models, want hundreds", len(es))
	}
	by := map[string]bool{}
	priced := 0
	for _, e := range es {
		by[e.ID] = true
		if e.Unavailable != "" {
			t.Logf("%s unavailable: %s", e.ID, e.Unavailable)
		}
		if e.PromptPrice > 0 && e.CompletionPrice > 0 {
			priced++
		}
	}
	for _, id := range []string{"openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-sonnet-4"} {
		if !by[id] {
			t.Errorf("snapshot lacks %s, a model the product page names", id)
		}
	}
	if priced < 300 {
		t.Errorf("only %d models have both prices", priced)
	}
	if src := SnapshotSource(); !strings.Contains(src, "@pydantic/genai-prices@0.1.8") || !strings.Contains(src, "20") {
		t.Errorf("SnapshotSource() = %q", src)
	}
}
