package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// ReasonGone is the disabled reason of a model its upstream stopped listing.
const ReasonGone = "no longer listed by OpenRouter"

// defaultContext is the context window of a model added by a sync whose
// source does not state one.
const defaultContext = 8192

// maxSearch bounds one page of an admin's catalog search.
const maxSearch = 200

// Search returns up to limit models whose id or name contains query.
func (s *Models) Search(ctx context.Context, query string, limit int) ([]wattfare.ModelPrice, int, error) {
	if limit <= 0 || limit > maxSearch {
		limit = maxSearch
	}
	if len(query) > 200 {
		return nil, 0, wattfare.InvalidField("search", "at most 200 characters")
	}
	rows, err := queries.SearchModels(ctx, s.DB, sqlc.SearchModelsParams{Query: strings.TrimSpace(query), Lim: int32(limit)})
	if err != nil {
		return nil, 0, fmt.Errorf("search models: %w", interpretError(err))
	}
	ms := make([]wattfare.ModelPrice, len(rows))
	total := 0
	for i, r := range rows {
		ms[i] = modelPriceFrom(r.Model, r.GlobalMarkup)
		total = int(r.Total)
	}
	return ms, total, nil
}

// SetEnabled turns a model on or off for every app, audited.
func (s *Models) SetEnabled(ctx context.Context, adminID, modelID string, enabled bool) (wattfare.ModelPrice, error) {
	var m wattfare.ModelPrice
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		r, err := queries.SetModelEnabled(ctx, tx, sqlc.SetModelEnabledParams{ID: modelID, Enabled: enabled})
		if err != nil {
			return fmt.Errorf("set model enabled: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such model")))
		}
		if enabled && !r.Enabled {
			return wattfare.InvalidField("enabled", "%s cannot be enabled: %s", modelID, r.DisabledReason)
		}
		global, err := queries.GlobalMarkup(ctx, tx)
		if err != nil {
			return fmt.Errorf("set model enabled: %w", err)
		}
		m = modelPriceFrom(r, global)
		action := "model.disable"
		if enabled {
			action = "model.enable"
		}
		return audit(ctx, tx, adminID, action, "model", modelID, nil)
	})
	return m, err
}

func checkMarkup(field string, m wattfare.Markup) error {
	if m < 0 || m > wattfare.MaxMarkup {
		return wattfare.InvalidField(field, "must be between 0 and %d basis points (0 %% to 1000 %%)", wattfare.MaxMarkup)
	}
	return nil
}

// SetMarkup sets a model's own markup (nil: the global one), audited.
func (s *Models) SetMarkup(ctx context.Context, adminID, modelID string, markup *wattfare.Markup) (wattfare.ModelPrice, error) {
	var bps *int32
	if markup != nil {
		if err := checkMarkup("markupBps", *markup); err != nil {
			return wattfare.ModelPrice{}, err
		}
		v := int32(*markup)
		bps = &v
	}
	var m wattfare.ModelPrice
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var r sqlc.Model
		if err := s.Backstop.markupChange(ctx, tx, func() (err error) {
			r, err = queries.SetModelMarkup(ctx, tx, sqlc.SetModelMarkupParams{ID: modelID, MarkupBps: bps})
			if err != nil {
				return fmt.Errorf("set markup: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such model")))
			}
			return nil
		}); err != nil {
			return err
		}
		global, err := queries.GlobalMarkup(ctx, tx)
		if err != nil {
			return fmt.Errorf("set markup: %w", err)
		}
		m = modelPriceFrom(r, global)
		return audit(ctx, tx, adminID, "model.markup", "model", modelID, map[string]any{"markup_bps": bps})
	})
	return m, err
}

// GlobalMarkup is the markup of models without their own.
func (s *Models) GlobalMarkup(ctx context.Context) (wattfare.Markup, error) {
	v, err := queries.GlobalMarkup(ctx, s.DB)
	if err != nil {
		return 0, fmt.Errorf("global markup: %w", interpretError(err))
	}
	return wattfare.Markup(v), nil
}

// SetGlobalMarkup sets the global markup, audited. The settings row's
// trigger notifies it as a model change, so every data plane reprices.
func (s *Models) SetGlobalMarkup(ctx context.Context, adminID string, markup wattfare.Markup) (wattfare.Markup, error) {
	if err := checkMarkup("markupBps", markup); err != nil {
		return 0, err
	}
	var out wattfare.Markup
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var v int32
		if err := s.Backstop.markupChange(ctx, tx, func() (err error) {
			v, err = queries.SetGlobalMarkup(ctx, tx, int32(markup))
			if err != nil {
				return fmt.Errorf("set global markup: %w", interpretError(err))
			}
			return nil
		}); err != nil {
			return err
		}
		out = wattfare.Markup(v)
		return audit(ctx, tx, adminID, "catalog.markup", "catalog", "global", map[string]any{"markup_bps": v})
	})
	return out, err
}

// Sync applies an upstream's model list to the catalog in one
// transaction: new models are added, changed prices, limits and names
// updated, models not listed any more (chat models of that upstream)
// disabled with ReasonGone, and models listed again re-enabled unless an
// admin disabled them. Each changed model is audited; each changed row
// notifies the data plane through the models trigger. Unchanged rows are
// not written, so a sync that changes nothing drops no cache.
func (s *Models) Sync(ctx context.Context, actorID, upstream, source string, startedAt time.Time, entries []wattfare.CatalogEntry) (wattfare.CatalogSync, error) {
	var out wattfare.CatalogSync
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := queries.LockCatalog(ctx, tx); err != nil {
			return fmt.Errorf("sync catalog: lock: %w", err)
		}
		rows, err := queries.UpstreamModelsForUpdate(ctx, tx, upstream)
		if err != nil {
			return fmt.Errorf("sync catalog: read: %w", err)
		}
		have := make(map[string]sqlc.Model, len(rows))
		for _, r := range rows {
			have[r.ID] = r
		}
		res := wattfare.CatalogSync{Source: source, StartedAt: startedAt, Listed: len(entries)}
		listed := make(map[string]bool, len(entries))
		for _, e := range entries {
			listed[e.ID] = true
			old, exists := have[e.ID]
			if !exists {
				if err := s.syncAdd(ctx, tx, upstream, e, &res); err != nil {
					return err
				}
				continue
			}
			if err := s.syncUpdate(ctx, tx, old, e, &res); err != nil {
				return err
			}
		}
		for _, r := range rows {
			if listed[r.ID] || r.Kind != "chat" || r.DisabledReason == ReasonGone {
				continue
			}
			ch := wattfare.ModelChange{ModelID: r.ID, Kind: wattfare.ChangeDisabled, Old: enabledWord(r.Enabled), New: ReasonGone}
			if err := queries.UpdateSyncedModel(ctx, tx, updateParams(r, ReasonGone)); err != nil {
				return fmt.Errorf("sync catalog: disable %s: %w", r.ID, interpretError(err))
			}
			res.Disabled++
			res.Changes = append(res.Changes, ch)
			if err := audit(ctx, tx, actorID, "model.sync", "model", r.ID, map[string]any{"source": source, "changes": []wattfare.ModelChange{ch}}); err != nil {
				return err
			}
		}
		for _, ch := range groupByModel(res.Changes) {
			if ch[0].Kind == wattfare.ChangeDisabled && ch[0].New == ReasonGone {
				continue // audited above
			}
			if err := audit(ctx, tx, actorID, "model.sync", "model", ch[0].ModelID, map[string]any{"source": source, "changes": ch}); err != nil {
				return err
			}
		}
		rec, err := insertSync(ctx, tx, actorID, res, "")
		if err != nil {
			return err
		}
		out = rec
		return nil
	})
	return out, err
}

func enabledWord(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func groupByModel(cs []wattfare.ModelChange) [][]wattfare.ModelChange {
	var out [][]wattfare.ModelChange
	for _, c := range cs {
		if n := len(out); n > 0 && out[n-1][0].ModelID == c.ModelID {
			out[n-1] = append(out[n-1], c)
			continue
		}
		out = append(out, []wattfare.ModelChange{c})
	}
	return out
}

func pricingJSON(p map[string]string) []byte {
	if p == nil {
		p = map[string]string{}
	}
	b, _ := json.Marshal(p)
	return b
}

func archJSON(a []byte) []byte {
	if len(a) == 0 || !json.Valid(a) {
		return []byte("{}")
	}
	return a
}

func (s *Models) syncAdd(ctx context.Context, tx pgx.Tx, upstream string, e wattfare.CatalogEntry, res *wattfare.CatalogSync) error {
	ctxLen := e.ContextLength
	if ctxLen <= 0 {
		ctxLen = defaultContext
	}
	maxOut := e.MaxOutputTokens
	if maxOut <= 0 || maxOut > ctxLen {
		maxOut = ctxLen
	}
	if e.Kind == "embedding" {
		maxOut = 1
	}
	n, err := queries.InsertSyncedModel(ctx, tx, sqlc.InsertSyncedModelParams{
		ID: e.ID, Upstream: upstream, Kind: e.Kind, DisplayName: e.DisplayName,
		PromptPrice: int64(e.PromptPrice), CompletionPrice: int64(e.CompletionPrice),
		ContextLength: int32(ctxLen), MaxOutputTokens: int32(maxOut), DisabledReason: e.Unavailable,
		Pricing: pricingJSON(e.Pricing), Architecture: archJSON(e.Architecture), SupportedParameters: nonNil(e.SupportedParameters),
	})
	if err != nil {
		return fmt.Errorf("sync catalog: add %s: %w", e.ID, interpretError(err))
	}
	if n == 0 {
		return nil // the id is another upstream's model: not OpenRouter's to change
	}
	res.Added++
	ch := wattfare.ModelChange{ModelID: e.ID, Kind: wattfare.ChangeAdded,
		New: fmt.Sprintf("$%s / $%s per million tokens, %d context", e.PromptPrice.PerMillion(), e.CompletionPrice.PerMillion(), ctxLen)}
	if e.Unavailable != "" {
		ch.New += ", disabled: " + e.Unavailable
	}
	res.Changes = append(res.Changes, ch)
	return nil
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func updateParams(r sqlc.Model, reason string) sqlc.UpdateSyncedModelParams {
	return sqlc.UpdateSyncedModelParams{
		ID: r.ID, DisplayName: r.DisplayName, PromptPrice: r.PromptPrice, CompletionPrice: r.CompletionPrice,
		ContextLength: r.ContextLength, MaxOutputTokens: r.MaxOutputTokens, DisabledReason: reason,
		Pricing: r.Pricing, Architecture: r.Architecture, SupportedParameters: nonNil(r.SupportedParameters),
	}
}

func (s *Models) syncUpdate(ctx context.Context, tx pgx.Tx, old sqlc.Model, e wattfare.CatalogEntry, res *wattfare.CatalogSync) error {
	p := updateParams(old, e.Unavailable)
	var changes []wattfare.ModelChange
	add := func(kind, field, from, to string) {
		changes = append(changes, wattfare.ModelChange{ModelID: e.ID, Kind: kind, Field: field, Old: from, New: to})
	}
	if int64(e.PromptPrice) != old.PromptPrice {
		add(wattfare.ChangePrice, "prompt", "$"+wattfare.Price(old.PromptPrice).PerMillion().String(), "$"+e.PromptPrice.PerMillion().String())
		p.PromptPrice = int64(e.PromptPrice)
	}
	if int64(e.CompletionPrice) != old.CompletionPrice {
		add(wattfare.ChangePrice, "completion", "$"+wattfare.Price(old.CompletionPrice).PerMillion().String(), "$"+e.CompletionPrice.PerMillion().String())
		p.CompletionPrice = int64(e.CompletionPrice)
	}
	if e.ContextLength > 0 && int32(e.ContextLength) != old.ContextLength {
		add(wattfare.ChangeLimits, "context_length", fmt.Sprint(old.ContextLength), fmt.Sprint(e.ContextLength))
		p.ContextLength = int32(e.ContextLength)
	}
	if old.Kind == "chat" {
		maxOut := int32(e.MaxOutputTokens)
		if maxOut <= 0 && e.ContextLength > 0 {
			maxOut = int32(e.ContextLength) // a null max_completion_tokens: the window bounds it
		}
		if maxOut > p.ContextLength {
			maxOut = p.ContextLength
		}
		if maxOut > 0 && maxOut != old.MaxOutputTokens {
			add(wattfare.ChangeLimits, "max_output_tokens", fmt.Sprint(old.MaxOutputTokens), fmt.Sprint(maxOut))
			p.MaxOutputTokens = maxOut
		}
	}
	if e.DisplayName != "" && e.DisplayName != old.DisplayName && (old.DisplayName == "" || old.DisplayName == old.ID) {
		p.DisplayName = e.DisplayName
	}
	if e.Unavailable != old.DisabledReason {
		switch {
		case e.Unavailable != "":
			add(wattfare.ChangeDisabled, "", enabledWord(old.Enabled), e.Unavailable)
			res.Disabled++
		case !old.AdminDisabled:
			add(wattfare.ChangeEnabled, "", old.DisabledReason, "enabled")
		}
	}
	newPricing, newArch := pricingJSON(e.Pricing), archJSON(e.Architecture)
	quiet := !jsonEqual(newPricing, old.Pricing) || !jsonEqual(newArch, old.Architecture) ||
		!slices.Equal(nonNil(e.SupportedParameters), nonNil(old.SupportedParameters)) || p.DisplayName != old.DisplayName ||
		e.Unavailable != old.DisabledReason
	if len(changes) == 0 && !quiet {
		return nil
	}
	p.Pricing, p.Architecture, p.SupportedParameters = newPricing, newArch, nonNil(e.SupportedParameters)
	if err := queries.UpdateSyncedModel(ctx, tx, p); err != nil {
		return fmt.Errorf("sync catalog: update %s: %w", e.ID, interpretError(err))
	}
	for _, c := range changes {
		if c.Kind == wattfare.ChangePrice || c.Kind == wattfare.ChangeLimits {
			res.Changed++
			break
		}
	}
	res.Changes = append(res.Changes, changes...)
	return nil
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func insertSync(ctx context.Context, tx sqlc.DBTX, actorID string, res wattfare.CatalogSync, errText string) (wattfare.CatalogSync, error) {
	changes := res.Changes
	if changes == nil {
		changes = []wattfare.ModelChange{}
	}
	diff, err := json.Marshal(changes)
	if err != nil {
		return res, fmt.Errorf("record sync: %w", err)
	}
	var actor *string
	if actorID != "" {
		actor = &actorID
	}
	r, err := queries.InsertCatalogSync(ctx, tx, sqlc.InsertCatalogSyncParams{
		ActorID: actor, Source: res.Source, StartedAt: res.StartedAt, Error: errText,
		Listed: int32(res.Listed), Added: int32(res.Added), Changed: int32(res.Changed), Disabled: int32(res.Disabled), Diff: diff,
	})
	if err != nil {
		return res, fmt.Errorf("record sync: %w", interpretError(err))
	}
	return syncFrom(r), nil
}

func syncFrom(r sqlc.CatalogSync) wattfare.CatalogSync {
	s := wattfare.CatalogSync{
		ID: r.ID, Source: r.Source, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Error: r.Error,
		Listed: int(r.Listed), Added: int(r.Added), Changed: int(r.Changed), Disabled: int(r.Disabled),
	}
	_ = json.Unmarshal(r.Diff, &s.Changes)
	return s
}

// RecordSyncFailure records a sync that could not read its source; the
// catalog is left as it was.
func (s *Models) RecordSyncFailure(ctx context.Context, actorID, source string, startedAt time.Time, cause error) (wattfare.CatalogSync, error) {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	return insertSync(ctx, s.DB, actorID, wattfare.CatalogSync{Source: source, StartedAt: startedAt}, msg)
}

// LastSync returns the latest sync, or nil before the first.
func (s *Models) LastSync(ctx context.Context) (*wattfare.CatalogSync, error) {
	r, err := queries.LastCatalogSync(ctx, s.DB)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last sync: %w", interpretError(err))
	}
	out := syncFrom(r)
	return &out, nil
}
