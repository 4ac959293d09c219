package controlplane_test

import (
	"strings"
	"testing"
)

// TestAdminCatalog: an admin searches the catalog, disables and re-enables
// a model, sets a model's markup and the global one, and reads the last
// sync; each write is audited and what users are shown follows the markup.
func TestAdminCatalog(t *testing.T) {
	t.Parallel()
	h := setup(t)
	admin, adminID := h.signUp("catalog-admin@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	dev, _ := h.signUp("catalog-dev@example.com")

	t.Run("ErrNotAdmin", func(t *testing.T) {
		dev.wantCode("FORBIDDEN", "", `{ admin { catalog(search: "gpt") { total } } }`, nil)
		dev.wantCode("FORBIDDEN", "", `mutation { setModelEnabled(modelId: "openai/gpt-4o", enabled: false) { id } }`, nil)
		dev.wantCode("FORBIDDEN", "", `mutation { setGlobalMarkup(markupBps: 5000) }`, nil)
		dev.wantCode("FORBIDDEN", "", `mutation { setModelMarkup(modelId: "openai/gpt-4o", markupBps: 5000) { id } }`, nil)
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action LIKE '%markup%' OR action LIKE 'model.%able'`); n != 0 {
			t.Fatal("a non-admin changed the catalog")
		}
	})

	type modelOut struct {
		ID, DisplayName, PromptPerMillion, UpstreamPromptPerMillion, DisabledReason string
		Enabled                                                                     bool
		MarkupBps                                                                   int
		OwnMarkupBps                                                                *int
		ContextLength                                                               int
	}
	const fields = `id displayName promptPerMillion upstreamPromptPerMillion disabledReason enabled markupBps ownMarkupBps contextLength`

	t.Run("Details", func(t *testing.T) {
		h.exec(`UPDATE models SET pricing = '{"prompt":"0.0000025","completion":"0.00001","image":"0.003613"}',
			architecture = '{"modality":"text+image->text"}', supported_parameters = '{max_tokens,tools}', synced_at = now() WHERE id = 'openai/gpt-4o'`)
		var out struct {
			Admin struct {
				Catalog struct {
					Models []struct {
						ID, Modality, UpstreamCompletionPerMillion string
						SupportedParameters                        []string
						SyncedAt                                   *string
						UpstreamPricing                            []struct{ Name, Usd string }
					}
				}
			}
		}
		admin.mustDo(`{ admin { catalog(search: "openai/gpt-4o", first: 1) { models { id modality upstreamCompletionPerMillion supportedParameters syncedAt upstreamPricing { name usd } } } } }`, nil, &out)
		m := out.Admin.Catalog.Models
		if len(m) != 1 || m[0].Modality != "text+image->text" || m[0].UpstreamCompletionPerMillion != "10.00" || len(m[0].SupportedParameters) != 2 || m[0].SyncedAt == nil {
			t.Fatalf("details %+v", m)
		}
		if p := m[0].UpstreamPricing; len(p) != 3 || p[0].Name != "completion" || p[1].Name != "image" || p[1].Usd != "0.003613" || p[2].Usd != "0.0000025" {
			t.Errorf("upstream pricing, by name: %+v", p)
		}
	})

	t.Run("Search", func(t *testing.T) {
		var out struct {
			Admin struct {
				Catalog struct {
					Total  int
					Models []modelOut
				}
			}
		}
		admin.mustDo(`query($q: String!) { admin { catalog(search: $q, first: 10) { total models { `+fields+` } } } }`, map[string]any{"q": "GPT-4O"}, &out)
		c := out.Admin.Catalog
		if c.Total != 2 || len(c.Models) != 2 || c.Models[0].ID != "openai/gpt-4o" || c.Models[1].ID != "openai/gpt-4o-mini" {
			t.Fatalf("search gpt-4o: %+v", c)
		}
		if m := c.Models[0]; m.PromptPerMillion != "2.50" || m.UpstreamPromptPerMillion != "2.50" || m.MarkupBps != 0 || m.OwnMarkupBps != nil || m.ContextLength != 128000 {
			t.Errorf("gpt-4o %+v", m)
		}
		admin.wantCode("INVALID_INPUT", "first", `{ admin { catalog(first: 0) { total } } }`, nil)
	})

	t.Run("DisableEnable", func(t *testing.T) {
		var out struct{ SetModelEnabled modelOut }
		admin.mustDo(`mutation { setModelEnabled(modelId: "openai/gpt-4o", enabled: false) { `+fields+` } }`, nil, &out)
		if out.SetModelEnabled.Enabled || out.SetModelEnabled.DisabledReason != "disabled by an admin" {
			t.Errorf("disabled: %+v", out.SetModelEnabled)
		}
		if n := h.count(`SELECT count(*) FROM models WHERE id = 'openai/gpt-4o' AND NOT enabled AND admin_disabled`); n != 1 {
			t.Error("not disabled in the catalog")
		}
		admin.mustDo(`mutation { setModelEnabled(modelId: "openai/gpt-4o", enabled: true) { `+fields+` } }`, nil, &out)
		if !out.SetModelEnabled.Enabled || out.SetModelEnabled.DisabledReason != "" {
			t.Errorf("re-enabled: %+v", out.SetModelEnabled)
		}
		h.exec(`UPDATE models SET disabled_reason = 'a per-image price ($0.04 per image) is not charged', enabled = false WHERE id = 'openai/gpt-4o-mini'`)
		e := admin.wantCode("INVALID_INPUT", "enabled", `mutation { setModelEnabled(modelId: "openai/gpt-4o-mini", enabled: true) { id } }`, nil)
		if !strings.Contains(e.Message, "per-image price") {
			t.Errorf("enabling an unchargeable model: %+v", e)
		}
		admin.wantCode("NOT_FOUND", "", `mutation { setModelEnabled(modelId: "no/such", enabled: false) { id } }`, nil)
		if n := h.count(`SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action IN ('model.disable', 'model.enable') AND target_id = 'openai/gpt-4o'`, adminID); n != 2 {
			t.Errorf("%d audit rows for disable + enable", n)
		}
	})

	t.Run("Markup", func(t *testing.T) {
		var g struct{ SetGlobalMarkup int }
		admin.mustDo(`mutation { setGlobalMarkup(markupBps: 2000) }`, nil, &g)
		if g.SetGlobalMarkup != 2000 {
			t.Fatalf("global markup %d", g.SetGlobalMarkup)
		}
		var out struct{ SetModelMarkup modelOut }
		admin.mustDo(`mutation { setModelMarkup(modelId: "anthropic/claude-sonnet-4", markupBps: 500) { `+fields+` } }`, nil, &out)
		if m := out.SetModelMarkup; m.MarkupBps != 500 || m.OwnMarkupBps == nil || *m.OwnMarkupBps != 500 || m.PromptPerMillion != "3.15" || m.UpstreamPromptPerMillion != "3.00" {
			t.Errorf("own markup: %+v", m)
		}
		// Users see the price with the markup.
		var pub struct {
			Models []struct{ ID, PromptPerMillion string }
		}
		h.browser().mustDo(`{ models { id promptPerMillion } }`, nil, &pub)
		shown := map[string]string{}
		for _, m := range pub.Models {
			shown[m.ID] = m.PromptPerMillion
		}
		if shown["openai/gpt-4o"] != "3.00" || shown["anthropic/claude-sonnet-4"] != "3.15" {
			t.Errorf("public prices with markup: gpt-4o %s (want 3.00), claude %s (want 3.15)", shown["openai/gpt-4o"], shown["anthropic/claude-sonnet-4"])
		}
		admin.mustDo(`mutation { setModelMarkup(modelId: "anthropic/claude-sonnet-4", markupBps: null) { `+fields+` } }`, nil, &out)
		if m := out.SetModelMarkup; m.MarkupBps != 2000 || m.OwnMarkupBps != nil {
			t.Errorf("back to global: %+v", m)
		}
		for _, bad := range []string{"-1", "100001", "9223372036854775807"} {
			admin.wantCode("INVALID_INPUT", "markupBps", `mutation { setGlobalMarkup(markupBps: `+bad+`) }`, nil)
		}
		admin.wantCode("INVALID_INPUT", "markupBps", `mutation { setModelMarkup(modelId: "openai/gpt-4o", markupBps: 4294967296) { id } }`, nil)
		if n := h.count(`SELECT count(*) FROM audit_log WHERE actor_id = $1 AND action IN ('catalog.markup', 'model.markup')`, adminID); n != 3 {
			t.Errorf("%d markup audit rows, want 3", n)
		}
	})

	t.Run("LastSync", func(t *testing.T) {
		var out struct {
			Admin struct {
				GlobalMarkupBps int
				LastCatalogSync *struct {
					ID, Source, Error, StartedAt, FinishedAt string
					Listed, Added, Changed, Disabled         int
					Changes                                  []struct{ ModelID, Kind, Field, Old, New string }
				}
			}
		}
		const q = `{ admin { globalMarkupBps lastCatalogSync { id source error startedAt finishedAt listed added changed disabled changes { modelId kind field old new } } } }`
		admin.mustDo(q, nil, &out)
		if out.Admin.GlobalMarkupBps != 2000 || out.Admin.LastCatalogSync != nil {
			t.Fatalf("before any sync: %+v", out.Admin)
		}
		h.exec(`INSERT INTO catalog_syncs (source, started_at, listed, added, changed, disabled, diff) VALUES ('https://openrouter.test/api/v1/models', now() - interval '2 seconds', 3, 1, 1, 1,
			'[{"model_id":"acme/new","kind":"added","new":"$1.00 / $2.00 per million tokens, 8192 context"},
			  {"model_id":"openai/gpt-4o","kind":"price","field":"prompt","old":"$2.50","new":"$3.00"},
			  {"model_id":"openai/gpt-4o-mini","kind":"disabled","old":"enabled","new":"no longer listed by OpenRouter"}]')`)
		admin.mustDo(q, nil, &out)
		s := out.Admin.LastCatalogSync
		if s == nil || s.ID == "" || s.Listed != 3 || s.Added != 1 || s.Changed != 1 || s.Disabled != 1 || len(s.Changes) != 3 || s.Error != "" || s.StartedAt >= s.FinishedAt {
			t.Fatalf("last sync %+v", s)
		}
		if c := s.Changes[1]; c.ModelID != "openai/gpt-4o" || c.Kind != "price" || c.Field != "prompt" || c.Old != "$2.50" || c.New != "$3.00" {
			t.Errorf("price change %+v", c)
		}
	})
}
