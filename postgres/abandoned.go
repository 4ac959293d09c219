package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Abandoned returns, for admins, the latest leases of lost spools captured
// in mode in the period (calendar month, UTC) that contains at, newest
// first, at most latest (1 to MaxOverrunEvents). `wattfare spool abandon`
// records each as a usage event of status wattfare.StatusAbandoned dated
// within its lease's period.
func (s *Usage) Abandoned(ctx context.Context, mode wattfare.Mode, at time.Time, latest int) ([]wattfare.AbandonedLease, error) {
	if latest < 1 || latest > MaxOverrunEvents {
		return nil, wattfare.InvalidField("latest", "must be between 1 and %d", MaxOverrunEvents)
	}
	rows, err := queries.LatestAbandoned(ctx, s.DB, sqlc.LatestAbandonedParams{
		Mode: string(mode), FromAt: wattfare.PeriodStart(at), ToAt: wattfare.PeriodEnd(at), Lim: int32(latest),
	})
	if err != nil {
		return nil, fmt.Errorf("abandoned leases: %w", interpretError(err))
	}
	out := make([]wattfare.AbandonedLease, len(rows))
	for i, r := range rows {
		out[i] = wattfare.AbandonedLease{RequestID: r.RequestID, CreatedAt: r.CreatedAt, ProcessID: r.ProcessID,
			AppID: r.AppID, AccountID: r.AccountID, ConnectionID: r.ConnectionID, AppUserID: r.AppUserID,
			Charged: wattfare.Money(r.Charged)}
	}
	return out, nil
}
