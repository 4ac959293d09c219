package wattfare

import (
	"context"
	"time"
)

// UsageDay is the usage of one UTC day.
type UsageDay struct {
	Day              string // YYYY-MM-DD
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             Money
}

// ModelUsage is usage per model.
type ModelUsage struct {
	ModelID          string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             Money
}

// UserUsage is usage per connection of an app (one of the app's users).
type UserUsage struct {
	ConnectionID     string
	AppUserID        string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             Money
}

// AppUsage is usage per app.
type AppUsage struct {
	AppID            string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             Money
}

// Receipt is one settled request. It holds ids, tokens and cost, never content.
type Receipt struct {
	RequestID        string
	CreatedAt        time.Time
	AppID            string
	Mode             Mode
	Model            string
	Status           string
	Stream           bool
	PromptTokens     int64
	CompletionTokens int64
	Cost             Money
	Charged          Money
	DurationMs       int
}

// Overrun is what settled requests cost beyond what was captured for them,
// for admins. A request overruns when its cost outgrew its hold and the
// lease, the cap or the wallet had no room for the rest: the ledger never
// charges past a cap or a wallet, so Wattfare (not the user) bears the
// difference.
type Overrun struct {
	PeriodStart, PeriodEnd time.Time
	// Total is the sum of cost - charged over the period's overrunning
	// requests, and Requests how many there were.
	Total    Money
	Requests int64
	// Latest is the latest overrunning requests, of any period, newest first.
	Latest []OverrunEvent
}

// OverrunEvent is one request that cost more than was captured for it.
type OverrunEvent struct {
	RequestID    string
	CreatedAt    time.Time
	AppID        string
	AccountID    string
	ConnectionID string
	AppUserID    string
	Model        string
	Status       string
	Cost         Money // what the request cost
	Charged      Money // what was captured for it
}

// Overrun returns the part of the cost nobody was charged.
func (e OverrunEvent) Overrun() Money { return e.Cost - e.Charged }

// AbandonedLease is one lease of a lost spool, captured in full: a usage
// event of status StatusAbandoned, which `wattfare spool abandon` records
// for each open lease of a dead data-plane process whose spool cannot be
// replayed, since what its requests consumed is unknown.
type AbandonedLease struct {
	RequestID    string // "abandon_" + the lease id
	CreatedAt    time.Time
	ProcessID    string // the data-plane process whose spool was lost ("" if its lease is gone)
	AppID        string
	AccountID    string
	ConnectionID string
	AppUserID    string
	Charged      Money // the lease's amount
}

// UsageService answers dashboards and admins about spend. Usage is read
// from daily rollups, receipts and overruns from the settled events.
//
// Methods named App… take an app the caller has authorized (its owner or
// an admin); Platform… and Abandoned are for admins only; the caller checks
// the role. Ranges [from, to) may span at most 366 days, and top-N lists
// take first between 1 and MaxPageSize: anything else is EINVALID naming
// the field (to, first).
type UsageService interface {
	// AppByDay returns an app's usage per UTC day over [from, to), every
	// day present.
	AppByDay(ctx context.Context, appID string, mode Mode, from, to time.Time) ([]UsageDay, error)
	// AppByModel returns an app's usage per model over [from, to), costliest first.
	AppByModel(ctx context.Context, appID string, mode Mode, from, to time.Time) ([]ModelUsage, error)
	// AppByUser returns the app's first users by cost over [from, to).
	AppByUser(ctx context.Context, appID string, mode Mode, from, to time.Time, first int) ([]UserUsage, error)

	// PlatformByDay returns usage across every app per UTC day.
	PlatformByDay(ctx context.Context, mode Mode, from, to time.Time) ([]UsageDay, error)
	// PlatformByModel returns usage across every app per model.
	PlatformByModel(ctx context.Context, mode Mode, from, to time.Time) ([]ModelUsage, error)
	// PlatformByApp returns the first apps by cost.
	PlatformByApp(ctx context.Context, mode Mode, from, to time.Time, first int) ([]AppUsage, error)

	// PlatformOverrun returns the overrun in mode of the period (calendar
	// month, UTC) that contains at, and the latest overrunning requests, at
	// most latest.
	//
	// Returns EINVALID (field latest) for latest not between 1 and MaxPageSize.
	PlatformOverrun(ctx context.Context, mode Mode, at time.Time, latest int) (Overrun, error)

	// Abandoned returns the latest leases of lost spools captured in mode
	// in the period (calendar month, UTC) that contains at, newest first,
	// at most latest.
	//
	// Returns EINVALID (field latest) as PlatformOverrun does.
	Abandoned(ctx context.Context, mode Mode, at time.Time, latest int) ([]AbandonedLease, error)

	// Receipts returns a page of accountID's settled requests in mode
	// within [from, to) (either may be nil), newest first. It acts for the
	// signed-in account that paid.
	//
	// Returns EINVALID for to not after from, a page size out of range or
	// a malformed cursor.
	Receipts(ctx context.Context, accountID string, mode Mode, from, to *time.Time, p Page) (Paged[Receipt], error)
}
