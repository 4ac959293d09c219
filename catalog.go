package wattfare

import (
	"context"
	"math"
	"math/bits"
	"time"
)

// ModelPrice is a catalog entry as the dashboard and admins see it, with
// prices in dollars per million tokens. PromptPerMillion and
// CompletionPerMillion are what users pay: the upstream's cost times
// (1 + Markup).
type ModelPrice struct {
	ID                   string
	Upstream             string
	UpstreamModel        string
	Kind                 string
	DisplayName          string
	PromptPerMillion     Money
	CompletionPerMillion Money
	ContextLength        int
	MaxOutputTokens      int
	Enabled              bool

	// UpstreamPromptPerMillion and UpstreamCompletionPerMillion are what
	// the upstream charges Wattfare.
	UpstreamPromptPerMillion     Money
	UpstreamCompletionPerMillion Money
	// Markup is the markup users pay on this model: OwnMarkup when set,
	// else the catalog's global markup.
	Markup    Markup
	OwnMarkup *Markup
	// DisabledReason says why a model that is not Enabled is not served.
	DisabledReason      string
	AdminDisabled       bool
	Modality            string
	SupportedParameters []string
	// UpstreamPricing is the upstream's price list as it sent it (decimal
	// USD strings by price name: prompt, completion, request, image…).
	UpstreamPricing map[string]string
	SyncedAt        *time.Time
}

// Markup is what users pay over the upstream's cost, in basis points:
// 1000 is 10 %. It is applied in integer arithmetic, rounding up, so that
// Wattfare never charges less than the upstream's cost times (1 + markup).
type Markup int32

// MaxMarkup bounds a markup an admin can set: 1000 %.
const MaxMarkup Markup = 100_000

// Price returns p marked up, rounded up to the pico-dollar per token.
func (m Markup) Price(p Price) Price {
	if m <= 0 || p <= 0 {
		return p
	}
	return Price(mulDivUp(uint64(p), uint64(10_000+int64(m)), 10_000))
}

// Charge returns an upstream cost marked up, rounded up to the nano-dollar.
func (m Markup) Charge(cost Money) Money {
	if m <= 0 || cost <= 0 {
		return cost
	}
	return Money(mulDivUp(uint64(cost), uint64(10_000+int64(m)), 10_000))
}

// mulDivUp is ceil(a*b/d) without overflow in the product, saturating at
// MaxInt64.
func mulDivUp(a, b, d uint64) int64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, d)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// CatalogEntry is a model as an upstream's catalog lists it (OpenRouter's
// GET /api/v1/models, or the embedded snapshot of it), with its prices
// parsed exactly. Unavailable, when set, says why Wattfare cannot serve it
// as listed (a price it does not charge, a price that is not exact); the
// entry is then kept in the catalog, disabled with that reason.
type CatalogEntry struct {
	ID                  string
	DisplayName         string
	Kind                string // "chat" or "embedding"
	PromptPrice         Price  // upstream cost per prompt token
	CompletionPrice     Price  // upstream cost per completion token
	ContextLength       int
	MaxOutputTokens     int
	Modality            string
	Architecture        []byte // the upstream's JSON object, as sent
	SupportedParameters []string
	Pricing             map[string]string
	Unavailable         string
}

// Catalog change kinds of a sync's diff.
const (
	ChangeAdded    = "added"
	ChangePrice    = "price"
	ChangeLimits   = "limits"
	ChangeDisabled = "disabled"
	ChangeEnabled  = "enabled"
)

// ModelChange is one line of a sync's diff: what changed of a model, from
// what to what, in words an admin reads ("$2.50 → $3.00 per million prompt
// tokens").
type ModelChange struct {
	ModelID string `json:"model_id"`
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Old     string `json:"old,omitempty"`
	New     string `json:"new,omitempty"`
}

// CatalogSync is the record of one sync of the catalog with an upstream.
// A failed sync (Error set) changed nothing.
type CatalogSync struct {
	ID         int64
	Source     string
	StartedAt  time.Time
	FinishedAt time.Time
	Error      string
	Listed     int
	Added      int
	Changed    int
	Disabled   int
	Changes    []ModelChange
}

// ModelService lists the model catalog and lets admins change it. Every
// change reaches the data plane through change notifications: a price
// change applies to requests admitted after it, while holds keep the price
// they were admitted at.
type ModelService interface {
	// List returns the catalog, enabled or not, by id. Anyone may call it,
	// signed in or not: prices are public.
	List(ctx context.Context) ([]ModelPrice, error)

	// ByIDs returns the models with the given ids in that order, nil for a
	// missing one. Dataloaders call it.
	ByIDs(ctx context.Context, ids []string) ([]*ModelPrice, error)

	// Search returns up to limit models whose id or name contains query
	// (case-insensitive), by id, and how many match in all. Admins only.
	Search(ctx context.Context, query string, limit int) ([]ModelPrice, int, error)

	// UpdatePrice sets a model's upstream prices, in dollars per million
	// tokens. Admins only: the caller checks the role; adminID is audited.
	//
	// Returns EINVALID naming the field for a price out of range or with
	// more than six decimal places, and ENOTFOUND.
	UpdatePrice(ctx context.Context, adminID, modelID string, promptPerMillion, completionPerMillion Money) (ModelPrice, error)

	// SetEnabled turns a model on or off for every app. Admins only;
	// audited. Returns ENOTFOUND, and EINVALID when enabling a model a sync
	// disabled (its DisabledReason says why it cannot be served).
	SetEnabled(ctx context.Context, adminID, modelID string, enabled bool) (ModelPrice, error)

	// SetMarkup sets a model's own markup, or with nil makes it follow the
	// global one. Admins only; audited. EINVALID out of [0, MaxMarkup].
	SetMarkup(ctx context.Context, adminID, modelID string, markup *Markup) (ModelPrice, error)

	// GlobalMarkup is the markup of models without their own.
	GlobalMarkup(ctx context.Context) (Markup, error)

	// SetGlobalMarkup sets it. Admins only; audited.
	SetGlobalMarkup(ctx context.Context, adminID string, markup Markup) (Markup, error)

	// Sync makes the upstream's models match entries: it adds new ones,
	// updates prices, limits and names, disables those not listed any more
	// or not servable (never deletes: usage names them) and re-enables
	// those listed again, in one transaction, audited per change, and
	// records the sync with its diff. actorID is "" for the system.
	Sync(ctx context.Context, actorID, upstream, source string, startedAt time.Time, entries []CatalogEntry) (CatalogSync, error)

	// RecordSyncFailure records a sync that could not read its source.
	RecordSyncFailure(ctx context.Context, actorID, source string, startedAt time.Time, cause error) (CatalogSync, error)

	// LastSync returns the latest sync, or nil before the first.
	LastSync(ctx context.Context) (*CatalogSync, error)
}
