package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Overrun is what settled requests cost beyond what was captured for them,
// for admins. A request overruns when its cost outgrew its hold and the
// lease, the cap or the wallet had no room for the rest: the ledger never
// charges past a cap or a wallet, so Wattfare (not the user) bears the
// difference. usage_events keeps both figures: cost as the data plane
// measured it, charged as captured.
type Overrun struct {
	PeriodStart, PeriodEnd time.Time
	// Total is the sum of cost - charged over the period's overrunning
	// requests, and Requests how many there were.
	Total    wattfare.Money
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
	Cost         wattfare.Money // what the request cost
	Charged      wattfare.Money // what was captured for it
}

// Overrun returns the part of the cost nobody was charged.
func (e OverrunEvent) Overrun() wattfare.Money { return e.Cost - e.Charged }

// MaxOverrunEvents bounds how many of the latest overruns PlatformOverrun lists.
const MaxOverrunEvents = MaxPageSize

// PlatformOverrun returns, for admins, the overrun in mode of the period
// (calendar month, UTC) that contains at, and the latest overrunning
// requests, at most latest (1 to MaxOverrunEvents).
func (s *Usage) PlatformOverrun(ctx context.Context, mode wattfare.Mode, at time.Time, latest int) (Overrun, error) {
	if latest < 1 || latest > MaxOverrunEvents {
		return Overrun{}, wattfare.InvalidField("first", "must be between 1 and %d", MaxOverrunEvents)
	}
	o := Overrun{PeriodStart: wattfare.PeriodStart(at), PeriodEnd: wattfare.PeriodEnd(at)}
	total, err := queries.OverrunTotal(ctx, s.DB, sqlc.OverrunTotalParams{Mode: string(mode), FromAt: o.PeriodStart, ToAt: o.PeriodEnd})
	if err != nil {
		return Overrun{}, fmt.Errorf("overrun total: %w", interpretError(err))
	}
	o.Total, o.Requests = wattfare.Money(total.Overrun), total.Requests
	rows, err := queries.LatestOverruns(ctx, s.DB, sqlc.LatestOverrunsParams{Mode: string(mode), Lim: int32(latest)})
	if err != nil {
		return Overrun{}, fmt.Errorf("latest overruns: %w", interpretError(err))
	}
	o.Latest = make([]OverrunEvent, len(rows))
	for i, r := range rows {
		o.Latest[i] = OverrunEvent{RequestID: r.RequestID, CreatedAt: r.CreatedAt, AppID: r.AppID, AccountID: r.AccountID,
			ConnectionID: r.ConnectionID, AppUserID: r.AppUserID, Model: r.Model, Status: r.Status,
			Cost: wattfare.Money(r.Cost), Charged: wattfare.Money(r.Charged)}
	}
	return o, nil
}
