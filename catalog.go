package wattfare

import "context"

// ModelPrice is a catalog entry as the dashboard and admins see it, with
// prices in dollars per million tokens.
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
}

// ModelService lists the model catalog and lets admins change prices.
// Price changes reach the data plane through change notifications.
type ModelService interface {
	// List returns the catalog, enabled or not, by id. Anyone may call it,
	// signed in or not: prices are public.
	List(ctx context.Context) ([]ModelPrice, error)

	// ByIDs returns the models with the given ids in that order, nil for a
	// missing one. Dataloaders call it.
	ByIDs(ctx context.Context, ids []string) ([]*ModelPrice, error)

	// UpdatePrice sets a model's prices, in dollars per million tokens.
	// Admins only: the caller checks the role; adminID is audited.
	//
	// Returns EINVALID naming the field for a price out of range or with
	// more than six decimal places, and ENOTFOUND.
	UpdatePrice(ctx context.Context, adminID, modelID string, promptPerMillion, completionPerMillion Money) (ModelPrice, error)
}
