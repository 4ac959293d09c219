package openrouter_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/openroutertest"
	"github.com/wattfare/wattfare/openrouter"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

func ptr(n int) *int { return &n }

func fixtureModel(id, prompt, completion string, ctx, maxOut int) openroutertest.Model {
	return openroutertest.Model{
		ID: id, Name: "Name of " + id, ContextLength: ctx,
		Architecture:        openroutertest.Architecture{Modality: "text->text", InputModalities: []string{"text"}, OutputModalities: []string{"text"}, Tokenizer: "GPT"},
		Pricing:             openroutertest.Pricing{Prompt: prompt, Completion: completion},
		TopProvider:         openroutertest.TopProvider{ContextLength: ptr(ctx), MaxCompletionTokens: ptr(maxOut)},
		SupportedParameters: []string{"max_tokens", "temperature"},
	}
}

type syncSetup struct {
	ctx    context.Context
	models *postgres.Models
	fix    *openroutertest.Server
	syncer *openrouter.Syncer
	q      func(sql string, args ...any) []any
}

func setup(t *testing.T) syncSetup {
	t.Helper()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	fix := openroutertest.New(t)
	m := &postgres.Models{DB: pool}
	return syncSetup{
		ctx: ctx, models: m, fix: fix,
		syncer: &openrouter.Syncer{Models: m, Client: &openrouter.Client{BaseURL: fix.URL()}},
		q: func(sql string, args ...any) []any {
			t.Helper()
			rows, err := pool.Query(ctx, sql, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []any
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v...)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
	}
}

func byID(t *testing.T, s syncSetup, id string) wattfare.ModelPrice {
	t.Helper()
	ms, err := s.models.ByIDs(s.ctx, []string{id})
	if err != nil || ms[0] == nil {
		t.Fatalf("model %s: %v", id, err)
	}
	return *ms[0]
}

func TestSyncAgainstFixture(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.fix.SetModels([]openroutertest.Model{
		fixtureModel("openai/gpt-4o", "0.0000025", "0.00001", 128000, 16384),
		fixtureModel("anthropic/claude-sonnet-4", "0.000003", "0.000015", 200000, 64000),
		fixtureModel("openai/gpt-4o-mini", "0.00000015", "0.0000006", 128000, 16384),
		fixtureModel("acme/new-model", "0.000001", "0.000002", 32000, 4000),
		fixtureModel("sandbox/echo", "0.00005", "0.00005", 1000, 100), // another upstream's id: left alone
		func() openroutertest.Model {
			m := fixtureModel("perplexity/sonar", "0.000001", "0.000001", 127072, 8000)
			m.Pricing.Request = "0.005"
			return m
		}(),
	})

	t.Run("Add", func(t *testing.T) {
		res, err := s.syncer.Sync(s.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 2 || res.Listed != 6 || !strings.HasSuffix(res.Source, "/api/v1/models") {
			t.Fatalf("first sync %+v", res)
		}
		m := byID(t, s, "acme/new-model")
		if !m.Enabled || m.PromptPerMillion != wattfare.USD(1) || m.CompletionPerMillion != wattfare.USD(2) ||
			m.ContextLength != 32000 || m.MaxOutputTokens != 4000 || m.DisplayName != "Name of acme/new-model" || m.Modality != "text->text" {
			t.Errorf("added model %+v", m)
		}
		sonar := byID(t, s, "perplexity/sonar")
		if sonar.Enabled || !strings.Contains(sonar.DisabledReason, "per-request price ($0.005 per request)") {
			t.Errorf("per-request model enabled=%v reason %q", sonar.Enabled, sonar.DisabledReason)
		}
		if e := byID(t, s, "sandbox/echo"); e.Upstream != "sandbox" || e.UpstreamPromptPerMillion != wattfare.USD(1) {
			t.Errorf("an OpenRouter entry with the sandbox's id changed it: %+v", e)
		}
		// The seeded embedding model is not in OpenRouter's chat list and stays.
		if e := byID(t, s, "openai/text-embedding-3-small"); !e.Enabled {
			t.Errorf("embedding model disabled: %q", e.DisabledReason)
		}
	})

	t.Run("NothingChangedWritesNothing", func(t *testing.T) {
		before := s.q(`SELECT sum(version)::bigint FROM models`)
		res, err := s.syncer.Sync(s.ctx, "")
		if err != nil || res.Added+res.Changed+res.Disabled != 0 || len(res.Changes) != 0 {
			t.Fatalf("second sync %+v %v", res, err)
		}
		if after := s.q(`SELECT sum(version)::bigint FROM models`); after[0] != before[0] {
			t.Errorf("an unchanged list rewrote rows: versions %v → %v", before, after)
		}
	})

	t.Run("PriceChangeAndDisappear", func(t *testing.T) {
		s.fix.SetModels([]openroutertest.Model{
			fixtureModel("openai/gpt-4o", "0.000003", "0.00001", 128000, 16384), // prompt $2.50 → $3
			fixtureModel("anthropic/claude-sonnet-4", "0.000003", "0.000015", 1000000, 64000),
			fixtureModel("acme/new-model", "0.000001", "0.000002", 32000, 4000),
			fixtureModel("perplexity/sonar", "0.000001", "0.000001", 127072, 8000), // no request price now
		})
		res, err := s.syncer.Sync(s.ctx, "admin-1")
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed != 2 || res.Disabled != 1 || res.Added != 0 {
			t.Errorf("sync %+v", res)
		}
		want := map[string]wattfare.ModelChange{
			"openai/gpt-4o":             {ModelID: "openai/gpt-4o", Kind: "price", Field: "prompt", Old: "$2.50", New: "$3.00"},
			"anthropic/claude-sonnet-4": {ModelID: "anthropic/claude-sonnet-4", Kind: "limits", Field: "context_length", Old: "200000", New: "1000000"},
			"openai/gpt-4o-mini":        {ModelID: "openai/gpt-4o-mini", Kind: "disabled", Old: "enabled", New: postgres.ReasonGone},
			"perplexity/sonar":          {ModelID: "perplexity/sonar", Kind: "enabled", New: "enabled"},
		}
		got := map[string]wattfare.ModelChange{}
		for _, c := range res.Changes {
			got[c.ModelID] = c
		}
		for id, w := range want {
			g := got[id]
			if id == "perplexity/sonar" {
				g.Old = ""
			}
			if g != w {
				t.Errorf("diff of %s = %+v, want %+v", id, got[id], w)
			}
		}
		if m := byID(t, s, "openai/gpt-4o"); m.PromptPerMillion != 3*wattfare.Dollar {
			t.Errorf("gpt-4o prompt %s", m.PromptPerMillion)
		}
		gone := byID(t, s, "openai/gpt-4o-mini")
		if gone.Enabled || gone.DisabledReason != postgres.ReasonGone {
			t.Errorf("vanished model enabled=%v reason %q", gone.Enabled, gone.DisabledReason)
		}
		if n := s.q(`SELECT count(*) FROM models WHERE id = 'openai/gpt-4o-mini'`); n[0].(int64) != 1 {
			t.Error("a vanished model was deleted")
		}
		if m := byID(t, s, "perplexity/sonar"); !m.Enabled {
			t.Errorf("sonar not re-enabled once chargeable: %q", m.DisabledReason)
		}
		audits := s.q(`SELECT count(*) FROM audit_log WHERE action = 'model.sync' AND actor_id = 'admin-1'`)
		if audits[0].(int64) != 4 {
			t.Errorf("%v audit rows for 4 changed models", audits[0])
		}
		var data map[string]any
		raw := s.q(`SELECT data::text FROM audit_log WHERE action = 'model.sync' AND target_id = 'openai/gpt-4o' ORDER BY id DESC LIMIT 1`)
		if err := json.Unmarshal([]byte(raw[0].(string)), &data); err != nil || !strings.Contains(raw[0].(string), `"old": "$2.50"`) && !strings.Contains(raw[0].(string), `"old":"$2.50"`) {
			t.Errorf("audit of the price change: %s", raw[0])
		}
		last, err := s.models.LastSync(s.ctx)
		if err != nil || last == nil || last.ID != res.ID || len(last.Changes) != len(res.Changes) {
			t.Errorf("last sync %+v %v", last, err)
		}
	})

	t.Run("AdminDisabledStaysDisabled", func(t *testing.T) {
		if _, err := s.models.SetEnabled(s.ctx, "admin-1", "acme/new-model", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.syncer.Sync(s.ctx, ""); err != nil {
			t.Fatal(err)
		}
		if m := byID(t, s, "acme/new-model"); m.Enabled || m.DisabledReason != "disabled by an admin" {
			t.Errorf("a sync re-enabled what an admin disabled: %+v", m)
		}
		if _, err := s.models.SetEnabled(s.ctx, "admin-1", "openai/gpt-4o-mini", true); wattfare.ErrorCode(err) != wattfare.EINVALID ||
			!strings.Contains(err.Error(), postgres.ReasonGone) {
			t.Errorf("enabling a vanished model: %v", err)
		}
	})

	t.Run("Fixture5xxChangesNothing", func(t *testing.T) {
		before := s.q(`SELECT sum(version)::bigint, count(*) FROM models`)
		s.fix.FailModels(http.StatusServiceUnavailable)
		defer s.fix.FailModels(0)
		_, err := s.syncer.Sync(s.ctx, "")
		var we *wattfare.Error
		if !errors.As(err, &we) || we.Code != wattfare.EUnavailable || !strings.Contains(we.Message, "503") || !strings.Contains(we.Message, "nothing changed") {
			t.Fatalf("err = %v", err)
		}
		if after := s.q(`SELECT sum(version)::bigint, count(*) FROM models`); after[0] != before[0] || after[1] != before[1] {
			t.Errorf("a failed sync changed the catalog: %v → %v", before, after)
		}
		last, _ := s.models.LastSync(s.ctx)
		if last == nil || !strings.Contains(last.Error, "503") || last.Added+last.Changed+last.Disabled != 0 {
			t.Errorf("failed sync not recorded: %+v", last)
		}
	})

	t.Run("HostileDocumentChangesNothing", func(t *testing.T) {
		before := s.q(`SELECT sum(version)::bigint FROM models`)
		s.fix.SetModelsJSON([]byte(`{"data":[{"id":"a/b","pricing":{}},{"id":"a/b","pricing":{}}]}`))
		if _, err := s.syncer.Sync(s.ctx, ""); !errors.Is(err, openrouter.ErrModelsDocument) && wattfare.ErrorCode(err) != wattfare.EUnavailable {
			t.Fatalf("err = %v", err)
		}
		if after := s.q(`SELECT sum(version)::bigint FROM models`); after[0] != before[0] {
			t.Error("a hostile document changed the catalog")
		}
	})
}

func TestSnapshotSeedsHundredsOfModels(t *testing.T) {
	t.Parallel()
	s := setup(t)
	seeded, err := s.syncer.SeedFromSnapshot(s.ctx)
	if err != nil || !seeded {
		t.Fatalf("seeded %v, %v", seeded, err)
	}
	n := s.q(`SELECT count(*) FILTER (WHERE enabled), count(*) FILTER (WHERE NOT enabled AND disabled_reason = '' AND NOT admin_disabled) FROM models WHERE upstream = 'openrouter'`)
	if n[0].(int64) < 300 {
		t.Errorf("%d enabled OpenRouter models after the snapshot, want hundreds", n[0])
	}
	if n[1].(int64) != 0 {
		t.Errorf("%d models disabled without a reason", n[1])
	}
	// The seeded models keep their limits where the source states none.
	if m := byID(t, s, "anthropic/claude-sonnet-4"); !m.Enabled || m.ContextLength != 200000 || m.PromptPerMillion != 3*wattfare.Dollar {
		t.Errorf("claude-sonnet-4 after the snapshot: %+v", m)
	}
	again, err := s.syncer.SeedFromSnapshot(s.ctx)
	if err != nil || again {
		t.Errorf("second seed %v %v", again, err)
	}
	last, err := s.models.LastSync(s.ctx)
	if err != nil || last == nil || !strings.Contains(last.Source, "@pydantic/genai-prices@0.1.8") || last.Added < 300 {
		t.Errorf("last sync %+v", last)
	}

}

// TestPeriodicSync: Run syncs at once and then every interval, picks up a
// change OpenRouter makes between ticks, keeps going through a failing
// OpenRouter (recording each failure, changing nothing) and stops with ctx.
func TestPeriodicSync(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.fix.SetModels([]openroutertest.Model{fixtureModel("acme/periodic", "0.000001", "0.000002", 8000, 1000)})
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { s.syncer.Run(ctx, 20*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	price := func() int64 {
		r := s.q(`SELECT coalesce(max(prompt_price), -1) FROM models WHERE id = 'acme/periodic' AND enabled`)
		return r[0].(int64)
	}
	waitFor("the first sync to add acme/periodic", func() bool { return price() == 1_000_000 })
	s.fix.SetModels([]openroutertest.Model{fixtureModel("acme/periodic", "0.000004", "0.000002", 8000, 1000)})
	waitFor("a later tick to reprice it", func() bool { return price() == 4_000_000 })

	s.fix.FailModels(http.StatusBadGateway)
	calls := s.fix.ModelsCalls()
	waitFor("ticks to go on against a failing OpenRouter", func() bool { return s.fix.ModelsCalls() >= calls+3 })
	if p := price(); p != 4_000_000 {
		t.Errorf("a failing OpenRouter changed the price to %d", p)
	}
	last, err := s.models.LastSync(s.ctx)
	if err != nil || last == nil || !strings.Contains(last.Error, "502") {
		t.Errorf("failed tick not recorded: %+v %v", last, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
