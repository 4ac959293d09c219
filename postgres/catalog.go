package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Catalog is the data plane's read side of Postgres: the key, app,
// connection and models a request needs, each with its version. The data
// plane caches what it returns and drops entries on change notifications.
// Misses are NOT_FOUND *wattfare.Errors.
type Catalog struct {
	db *pgxpool.Pool
}

// NewCatalog returns a Catalog reading from db.
func NewCatalog(db *pgxpool.Pool) *Catalog { return &Catalog{db: db} }

// KeyBySecretHash returns the key whose secret hashes to hash, revoked or not.
func (c *Catalog) KeyBySecretHash(ctx context.Context, hash [32]byte) (wattfare.APIKey, error) {
	k, err := queries.KeyBySecretHash(ctx, c.db, hash[:])
	if err != nil {
		return wattfare.APIKey{}, catalogError("key", err)
	}
	return keyFrom(k), nil
}

// App returns the app with id.
func (c *Catalog) App(ctx context.Context, id string) (wattfare.App, error) {
	a, err := queries.AppByID(ctx, c.db, id)
	if err != nil {
		return wattfare.App{}, catalogError("app", err)
	}
	return appFrom(a).App, nil
}

// Connection returns the connection of appID's user appUserID in mode.
func (c *Catalog) Connection(ctx context.Context, appID string, mode wattfare.Mode, appUserID string) (wattfare.Connection, error) {
	// With its sealed upstream key, if any, in the same round trip: the
	// data plane opens it once per load, never per request.
	k, err := queries.CatalogConnectionWithKey(ctx, c.db, sqlc.CatalogConnectionWithKeyParams{AppID: appID, Mode: string(mode), AppUserID: appUserID})
	if err != nil {
		return wattfare.Connection{}, catalogError("connection", err)
	}
	r := k.Connection
	return wattfare.Connection{
		ID: r.ID, AppID: r.AppID, Mode: wattfare.Mode(r.Mode), AppUserID: r.AppUserID, AccountID: r.AccountID,
		MonthlyCap: wattfare.Money(r.MonthlyCap), Status: wattfare.ConnectionStatus(r.Status), Version: r.Version,
		CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, UpstreamKeySealed: k.UpstreamSecret,
	}, nil
}

// Models returns every model of the catalog, enabled or not, at the prices
// users pay (markup included). Its version is the row's: a change of the
// global markup notifies as a model change, and the data plane reloads all.
func (c *Catalog) Models(ctx context.Context) ([]wattfare.Model, error) {
	rows, err := queries.ListModelsMarked(ctx, c.db)
	if err != nil {
		return nil, catalogError("models", err)
	}
	out := make([]wattfare.Model, len(rows))
	for i, r := range rows {
		m := r.Model
		// What users pay: the upstream's cost marked up, rounded up to the
		// pico-dollar, so the data plane holds and charges it as it is.
		mk := effectiveMarkup(m, r.GlobalMarkup)
		out[i] = wattfare.Model{
			ID: m.ID, Upstream: m.Upstream, UpstreamModel: m.UpstreamModel, Kind: m.Kind, DisplayName: m.DisplayName,
			PromptPrice: mk.Price(wattfare.Price(m.PromptPrice)), CompletionPrice: mk.Price(wattfare.Price(m.CompletionPrice)),
			ContextLength: int(m.ContextLength), MaxOutputTokens: int(m.MaxOutputTokens), Enabled: m.Enabled,
			Version: m.Version, Markup: mk,
		}
	}
	return out, nil
}

func catalogError(what string, err error) error {
	err = interpretError(err)
	if wattfare.ErrorCode(err) == wattfare.ENOTFOUND {
		return err
	}
	return fmt.Errorf("catalog %s: %w", what, err)
}
