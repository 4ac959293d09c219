package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// audit records a write that matters (keys, caps, revocations, credits,
// suspensions) in the writing transaction, so it exists exactly when the
// write does.
func audit(ctx context.Context, tx pgx.Tx, actorID, action, targetType, targetID string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	var actor *string
	if actorID != "" {
		actor = &actorID
	}
	if err := queries.InsertAudit(ctx, tx, sqlc.InsertAuditParams{
		ActorID: actor, Action: action, TargetType: targetType, TargetID: targetID, Data: b,
	}); err != nil {
		return fmt.Errorf("audit %s: %w", action, interpretError(err))
	}
	return nil
}

// MaxPricePerMillion bounds a model price an admin can set.
const MaxPricePerMillion = 100_000 * wattfare.Dollar

// Models lists the catalog and lets admins change prices. Price changes
// reach the data plane through the models table's notify trigger.
type Models struct {
	DB *pgxpool.Pool
	// Backstop re-syncs the connections' upstream keys when a markup
	// change moves their limits (zero: none).
	Backstop Backstop
}

var _ wattfare.ModelService = (*Models)(nil)

// modelPriceFrom is a catalog row as admins and users see it, priced with
// the markup that applies to it (its own, else global).
func modelPriceFrom(r sqlc.Model, global int32) wattfare.ModelPrice {
	mk := effectiveMarkup(r, global)
	m := wattfare.ModelPrice{
		ID: r.ID, Upstream: r.Upstream, UpstreamModel: r.UpstreamModel, Kind: r.Kind, DisplayName: r.DisplayName,
		PromptPerMillion:             mk.Price(wattfare.Price(r.PromptPrice)).PerMillion(),
		CompletionPerMillion:         mk.Price(wattfare.Price(r.CompletionPrice)).PerMillion(),
		UpstreamPromptPerMillion:     wattfare.Price(r.PromptPrice).PerMillion(),
		UpstreamCompletionPerMillion: wattfare.Price(r.CompletionPrice).PerMillion(),
		ContextLength:                int(r.ContextLength), MaxOutputTokens: int(r.MaxOutputTokens), Enabled: r.Enabled,
		Markup: mk, AdminDisabled: r.AdminDisabled, DisabledReason: r.DisabledReason,
		SupportedParameters: r.SupportedParameters, SyncedAt: r.SyncedAt,
	}
	if r.MarkupBps != nil {
		own := wattfare.Markup(*r.MarkupBps)
		m.OwnMarkup = &own
	}
	if !r.Enabled && m.DisabledReason == "" {
		m.DisabledReason = "disabled by an admin"
	}
	_ = json.Unmarshal(r.Pricing, &m.UpstreamPricing)
	var arch struct {
		Modality string `json:"modality"`
	}
	if json.Unmarshal(r.Architecture, &arch) == nil {
		m.Modality = arch.Modality
	}
	return m
}

func effectiveMarkup(r sqlc.Model, global int32) wattfare.Markup {
	if r.MarkupBps != nil {
		return wattfare.Markup(*r.MarkupBps)
	}
	return wattfare.Markup(global)
}

// List returns the catalog, enabled or not, by id.
func (s *Models) List(ctx context.Context) ([]wattfare.ModelPrice, error) {
	rows, err := queries.ListModelsMarked(ctx, s.DB)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", interpretError(err))
	}
	ms := make([]wattfare.ModelPrice, len(rows))
	for i, r := range rows {
		ms[i] = modelPriceFrom(r.Model, r.GlobalMarkup)
	}
	return ms, nil
}

// ByIDs returns the models with the given ids in that order (nil when missing).
func (s *Models) ByIDs(ctx context.Context, ids []string) ([]*wattfare.ModelPrice, error) {
	found, err := queries.ModelsByIDsMarked(ctx, s.DB, ids)
	if err != nil {
		return nil, fmt.Errorf("load models: %w", interpretError(err))
	}
	return inIDOrder(ids, found, func(r sqlc.ModelsByIDsMarkedRow) wattfare.ModelPrice { return modelPriceFrom(r.Model, r.GlobalMarkup) },
		func(m *wattfare.ModelPrice) string { return m.ID }), nil
}

func checkPrice(field string, m wattfare.Money) (wattfare.Price, error) {
	if m < 0 || m > MaxPricePerMillion {
		return 0, wattfare.InvalidField(field, "must be between 0.00 and %s per million tokens", MaxPricePerMillion)
	}
	p := wattfare.PricePerMillion(m)
	if p.PerMillion() != m {
		return 0, wattfare.InvalidField(field, "at most six decimal places per million tokens")
	}
	return p, nil
}

// UpdatePrice sets a model's prices, given in dollars per million tokens.
func (s *Models) UpdatePrice(ctx context.Context, adminID, modelID string, promptPerMillion, completionPerMillion wattfare.Money) (wattfare.ModelPrice, error) {
	prompt, err := checkPrice("promptPerMillion", promptPerMillion)
	if err != nil {
		return wattfare.ModelPrice{}, err
	}
	completion, err := checkPrice("completionPerMillion", completionPerMillion)
	if err != nil {
		return wattfare.ModelPrice{}, err
	}
	var m wattfare.ModelPrice
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		r, err := queries.UpdateModelPrices(ctx, tx, sqlc.UpdateModelPricesParams{ID: modelID, PromptPrice: int64(prompt), CompletionPrice: int64(completion)})
		if err != nil {
			return fmt.Errorf("update price: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such model")))
		}
		global, err := queries.GlobalMarkup(ctx, tx)
		if err != nil {
			return fmt.Errorf("update price: %w", err)
		}
		m = modelPriceFrom(r, global)
		return audit(ctx, tx, adminID, "model.price", "model", modelID,
			map[string]any{"prompt_per_million": promptPerMillion, "completion_per_million": completionPerMillion})
	})
	return m, err
}
