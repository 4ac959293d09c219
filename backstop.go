package wattfare

import (
	"context"
	"time"
)

// UpstreamKeyDrift is the newest reconciliation of one live connection's
// own OpenRouter key (the upstream backstop): what Wattfare metered at
// upstream cost this month against what the key spent on OpenRouter.
// Drift is Upstream − Metered: above zero, requests went out on the key
// that Wattfare did not meter.
type UpstreamKeyDrift struct {
	ConnectionID string
	Period       time.Time // the month, its first day (UTC)
	CheckedAt    time.Time
	Metered      Money
	Upstream     Money
	Drift        Money
	Limit        *Money // the key's limit on OpenRouter; nil: none
	Disabled     bool
}

// BackstopService reports on the upstream backstop to admins.
type BackstopService interface {
	// Drift returns the newest reconciliation of each key, largest drift
	// first, at most limit (1 to 500) of them. The caller is an admin.
	Drift(ctx context.Context, limit int) ([]UpstreamKeyDrift, error)
}
