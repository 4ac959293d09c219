package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// MaxOverrunEvents bounds how many of the latest overruns PlatformOverrun lists.
const MaxOverrunEvents = wattfare.MaxPageSize

// PlatformOverrun returns, for admins, the overrun in mode of the period
// (calendar month, UTC) that contains at, and the latest overrunning
// requests, at most latest (1 to MaxOverrunEvents). usage_events keeps both
// figures of a request: cost as the data plane measured it, charged as
// captured.
func (s *Usage) PlatformOverrun(ctx context.Context, mode wattfare.Mode, at time.Time, latest int) (wattfare.Overrun, error) {
	if latest < 1 || latest > MaxOverrunEvents {
		return wattfare.Overrun{}, wattfare.InvalidField("latest", "must be between 1 and %d", MaxOverrunEvents)
	}
	o := wattfare.Overrun{PeriodStart: wattfare.PeriodStart(at), PeriodEnd: wattfare.PeriodEnd(at)}
	total, err := queries.OverrunTotal(ctx, s.DB, sqlc.OverrunTotalParams{Mode: string(mode), FromAt: o.PeriodStart, ToAt: o.PeriodEnd})
	if err != nil {
		return wattfare.Overrun{}, fmt.Errorf("overrun total: %w", interpretError(err))
	}
	o.Total, o.Requests = wattfare.Money(total.Overrun), total.Requests
	rows, err := queries.LatestOverruns(ctx, s.DB, sqlc.LatestOverrunsParams{Mode: string(mode), Lim: int32(latest)})
	if err != nil {
		return wattfare.Overrun{}, fmt.Errorf("latest overruns: %w", interpretError(err))
	}
	o.Latest = make([]wattfare.OverrunEvent, len(rows))
	for i, r := range rows {
		o.Latest[i] = wattfare.OverrunEvent{RequestID: r.RequestID, CreatedAt: r.CreatedAt, AppID: r.AppID, AccountID: r.AccountID,
			ConnectionID: r.ConnectionID, AppUserID: r.AppUserID, Model: r.Model, Status: r.Status,
			Cost: wattfare.Money(r.Cost), Charged: wattfare.Money(r.Charged)}
	}
	return o, nil
}
