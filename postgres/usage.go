package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// Usage answers dashboards from the daily rollups (usage_daily), never from
// the raw events, and lists per-request receipts from usage_events.
type Usage struct {
	DB *pgxpool.Pool
}

var _ wattfare.UsageService = (*Usage)(nil)

// MaxUsageRange bounds a usage query.
const MaxUsageRange = 366 * 24 * time.Hour

// DayRange is the UTC days that overlap [from, to).
type DayRange struct {
	First, Last time.Time // midnight UTC of the first and last day
}

// Days returns the range of UTC days overlapping [from, to), checking that
// to is after from and that the range is at most MaxUsageRange.
func Days(from, to time.Time) (DayRange, error) {
	if !to.After(from) {
		return DayRange{}, wattfare.InvalidField("to", "must be after from")
	}
	if to.Sub(from) > MaxUsageRange {
		return DayRange{}, wattfare.InvalidField("to", "a range spans at most 366 days")
	}
	day := func(t time.Time) time.Time {
		t = t.UTC()
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return DayRange{First: day(from), Last: day(to.Add(-time.Nanosecond))}, nil
}

const dayLayout = "2006-01-02"

// fillDays returns one entry per day of r, zero where rows has none.
func fillDays(r DayRange, rows []wattfare.UsageDay) []wattfare.UsageDay {
	byDay := make(map[string]wattfare.UsageDay, len(rows))
	for _, u := range rows {
		byDay[u.Day] = u
	}
	var out []wattfare.UsageDay
	for d := r.First; !d.After(r.Last); d = d.AddDate(0, 0, 1) {
		k := d.Format(dayLayout)
		u, ok := byDay[k]
		if !ok {
			u = wattfare.UsageDay{Day: k}
		}
		out = append(out, u)
	}
	return out
}

// usageDay is a generated row of usage per day.
func usageDay(day pgtype.Date, requests, promptTokens, completionTokens, cost int64) wattfare.UsageDay {
	return wattfare.UsageDay{Day: day.Time.Format(dayLayout), Requests: requests, PromptTokens: promptTokens,
		CompletionTokens: completionTokens, Cost: wattfare.Money(cost)}
}

func modelUsage(model string, requests, promptTokens, completionTokens, cost int64) wattfare.ModelUsage {
	return wattfare.ModelUsage{ModelID: model, Requests: requests, PromptTokens: promptTokens,
		CompletionTokens: completionTokens, Cost: wattfare.Money(cost)}
}

// AppByDay returns an app's usage per UTC day over [from, to), every day
// present. The caller has authorized the app.
func (s *Usage) AppByDay(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time) ([]wattfare.UsageDay, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := queries.AppUsageByDay(ctx, s.DB, sqlc.AppUsageByDayParams{
		AppID: appID, Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last),
	})
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", interpretError(err))
	}
	days := make([]wattfare.UsageDay, len(rows))
	for i, u := range rows {
		days[i] = usageDay(u.Day, u.Requests, u.PromptTokens, u.CompletionTokens, u.Cost)
	}
	return fillDays(r, days), nil
}

// AppByModel returns an app's usage per model over [from, to), costliest first.
func (s *Usage) AppByModel(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time) ([]wattfare.ModelUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := queries.AppUsageByModel(ctx, s.DB, sqlc.AppUsageByModelParams{
		AppID: appID, Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last),
	})
	if err != nil {
		return nil, fmt.Errorf("usage by model: %w", interpretError(err))
	}
	out := make([]wattfare.ModelUsage, len(rows))
	for i, u := range rows {
		out[i] = modelUsage(u.Model, u.Requests, u.PromptTokens, u.CompletionTokens, u.Cost)
	}
	return out, nil
}

func checkTop(first int) error {
	if first < 1 || first > wattfare.MaxPageSize {
		return wattfare.InvalidField("first", "must be between 1 and %d", wattfare.MaxPageSize)
	}
	return nil
}

// AppByUser returns the app's first users by cost over [from, to).
func (s *Usage) AppByUser(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time, first int) ([]wattfare.UserUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	if err := checkTop(first); err != nil {
		return nil, err
	}
	rows, err := queries.AppUsageByUser(ctx, s.DB, sqlc.AppUsageByUserParams{
		AppID: appID, Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last), Lim: int32(first),
	})
	if err != nil {
		return nil, fmt.Errorf("usage by user: %w", interpretError(err))
	}
	out := make([]wattfare.UserUsage, len(rows))
	for i, u := range rows {
		out[i] = wattfare.UserUsage{ConnectionID: u.ConnectionID, AppUserID: u.AppUserID, Requests: u.Requests,
			PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Cost: wattfare.Money(u.Cost)}
	}
	return out, nil
}

// PlatformByDay returns usage across every app per UTC day, for admins.
func (s *Usage) PlatformByDay(ctx context.Context, mode wattfare.Mode, from, to time.Time) ([]wattfare.UsageDay, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := queries.PlatformUsageByDay(ctx, s.DB, sqlc.PlatformUsageByDayParams{
		Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last),
	})
	if err != nil {
		return nil, fmt.Errorf("platform usage by day: %w", interpretError(err))
	}
	days := make([]wattfare.UsageDay, len(rows))
	for i, u := range rows {
		days[i] = usageDay(u.Day, u.Requests, u.PromptTokens, u.CompletionTokens, u.Cost)
	}
	return fillDays(r, days), nil
}

// PlatformByModel returns usage across every app per model, for admins.
func (s *Usage) PlatformByModel(ctx context.Context, mode wattfare.Mode, from, to time.Time) ([]wattfare.ModelUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := queries.PlatformUsageByModel(ctx, s.DB, sqlc.PlatformUsageByModelParams{
		Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last),
	})
	if err != nil {
		return nil, fmt.Errorf("platform usage by model: %w", interpretError(err))
	}
	out := make([]wattfare.ModelUsage, len(rows))
	for i, u := range rows {
		out[i] = modelUsage(u.Model, u.Requests, u.PromptTokens, u.CompletionTokens, u.Cost)
	}
	return out, nil
}

// PlatformByApp returns the first apps by cost, for admins.
func (s *Usage) PlatformByApp(ctx context.Context, mode wattfare.Mode, from, to time.Time, first int) ([]wattfare.AppUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	if err := checkTop(first); err != nil {
		return nil, err
	}
	rows, err := queries.PlatformUsageByApp(ctx, s.DB, sqlc.PlatformUsageByAppParams{
		Mode: string(mode), FirstDay: pgDate(r.First), LastDay: pgDate(r.Last), Lim: int32(first),
	})
	if err != nil {
		return nil, fmt.Errorf("platform usage by app: %w", interpretError(err))
	}
	out := make([]wattfare.AppUsage, len(rows))
	for i, u := range rows {
		out[i] = wattfare.AppUsage{AppID: u.AppID, Requests: u.Requests, PromptTokens: u.PromptTokens,
			CompletionTokens: u.CompletionTokens, Cost: wattfare.Money(u.Cost)}
	}
	return out, nil
}

// Receipts returns a page of accountID's settled requests in mode within
// [from, to) (either may be nil), newest first.
func (s *Usage) Receipts(ctx context.Context, accountID string, mode wattfare.Mode, from, to *time.Time, p wattfare.Page) (wattfare.Paged[wattfare.Receipt], error) {
	if from != nil && to != nil && !to.After(*from) {
		return wattfare.Paged[wattfare.Receipt]{}, wattfare.InvalidField("to", "must be after from")
	}
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.Receipt, error) {
		rows, err := queries.ReceiptsPage(ctx, s.DB, sqlc.ReceiptsPageParams{
			AccountID: accountID, Mode: string(mode), FromAt: from, ToAt: to,
			AfterAt: after.at(), AfterID: after.id(), Lim: limit,
		})
		out := make([]wattfare.Receipt, len(rows))
		for i, r := range rows {
			out[i] = wattfare.Receipt{RequestID: r.RequestID, CreatedAt: r.CreatedAt, AppID: r.AppID, Mode: wattfare.Mode(r.Mode),
				Model: r.Model, Status: r.Status, Stream: r.Stream, PromptTokens: r.PromptTokens,
				CompletionTokens: r.CompletionTokens, Cost: wattfare.Money(r.Cost), Charged: wattfare.Money(r.Charged),
				DurationMs: int(r.DurationMs)}
		}
		return out, interpretError(err)
	}, func(r wattfare.Receipt) cursorKey { return cursorKey{r.CreatedAt, r.RequestID} })
}
