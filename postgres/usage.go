package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
)

// Usage answers dashboards from the daily rollups (usage_daily), never from
// the raw events, and lists per-request receipts from usage_events.
type Usage struct {
	DB *pgxpool.Pool
}

// UsageDay is the usage of one UTC day.
type UsageDay struct {
	Day              string // YYYY-MM-DD
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             wattfare.Money
}

// ModelUsage is usage per model.
type ModelUsage struct {
	ModelID          string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             wattfare.Money
}

// UserUsage is usage per connection of an app (one of the app's users).
type UserUsage struct {
	ConnectionID     string
	AppUserID        string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             wattfare.Money
}

// AppUsage is usage per app.
type AppUsage struct {
	AppID            string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Cost             wattfare.Money
}

// Receipt is one settled request. It holds ids, tokens and cost, never content.
type Receipt struct {
	RequestID        string
	CreatedAt        time.Time
	AppID            string
	Mode             wattfare.Mode
	Model            string
	Status           string
	Stream           bool
	PromptTokens     int64
	CompletionTokens int64
	Cost             wattfare.Money
	Charged          wattfare.Money
	DurationMs       int
}

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
func fillDays(r DayRange, rows []UsageDay) []UsageDay {
	byDay := make(map[string]UsageDay, len(rows))
	for _, u := range rows {
		byDay[u.Day] = u
	}
	var out []UsageDay
	for d := r.First; !d.After(r.Last); d = d.AddDate(0, 0, 1) {
		k := d.Format(dayLayout)
		u, ok := byDay[k]
		if !ok {
			u = UsageDay{Day: k}
		}
		out = append(out, u)
	}
	return out
}

func scanUsageDay(r pgx.CollectableRow) (UsageDay, error) {
	var u UsageDay
	var d time.Time
	err := r.Scan(&d, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.Cost)
	u.Day = d.Format(dayLayout)
	return u, err
}

const sums = `sum(requests)::bigint, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cost)::bigint`

// AppByDay returns an app's usage per UTC day over [from, to), every day
// present. The caller has authorized the app.
func (s *Usage) AppByDay(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time) ([]UsageDay, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT day, `+sums+` FROM usage_daily
WHERE app_id = $1 AND mode = $2 AND day BETWEEN $3 AND $4 GROUP BY day ORDER BY day`, appID, string(mode), r.First, r.Last)
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", err)
	}
	days, err := pgx.CollectRows(rows, scanUsageDay)
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", err)
	}
	return fillDays(r, days), nil
}

// AppByModel returns an app's usage per model over [from, to), costliest first.
func (s *Usage) AppByModel(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time) ([]ModelUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	return collectModelUsage(s.DB.Query(ctx, `SELECT model, `+sums+` FROM usage_daily
WHERE app_id = $1 AND mode = $2 AND day BETWEEN $3 AND $4 GROUP BY model ORDER BY 5 DESC, model`, appID, string(mode), r.First, r.Last))
}

func collectModelUsage(rows pgx.Rows, err error) ([]ModelUsage, error) {
	if err != nil {
		return nil, fmt.Errorf("usage by model: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ModelUsage, error) {
		var u ModelUsage
		err := r.Scan(&u.ModelID, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.Cost)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("usage by model: %w", err)
	}
	return out, nil
}

func checkTop(first int) error {
	if first < 1 || first > MaxPageSize {
		return wattfare.InvalidField("first", "must be between 1 and %d", MaxPageSize)
	}
	return nil
}

// AppByUser returns the app's first users by cost over [from, to).
func (s *Usage) AppByUser(ctx context.Context, appID string, mode wattfare.Mode, from, to time.Time, first int) ([]UserUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	if err := checkTop(first); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `
SELECT u.connection_id, c.app_user_id, u.requests, u.prompt_tokens, u.completion_tokens, u.cost
FROM (
  SELECT connection_id, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
         sum(completion_tokens)::bigint AS completion_tokens, sum(cost)::bigint AS cost
  FROM usage_daily WHERE app_id = $1 AND mode = $2 AND day BETWEEN $3 AND $4
  GROUP BY connection_id ORDER BY cost DESC, connection_id LIMIT $5
) u JOIN connections c ON c.id = u.connection_id
ORDER BY u.cost DESC, u.connection_id`, appID, string(mode), r.First, r.Last, first)
	if err != nil {
		return nil, fmt.Errorf("usage by user: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserUsage, error) {
		var u UserUsage
		err := r.Scan(&u.ConnectionID, &u.AppUserID, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.Cost)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("usage by user: %w", err)
	}
	return out, nil
}

// PlatformByDay returns usage across every app per UTC day, for admins.
func (s *Usage) PlatformByDay(ctx context.Context, mode wattfare.Mode, from, to time.Time) ([]UsageDay, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT day, `+sums+` FROM usage_daily
WHERE mode = $1 AND day BETWEEN $2 AND $3 GROUP BY day ORDER BY day`, string(mode), r.First, r.Last)
	if err != nil {
		return nil, fmt.Errorf("platform usage by day: %w", err)
	}
	days, err := pgx.CollectRows(rows, scanUsageDay)
	if err != nil {
		return nil, fmt.Errorf("platform usage by day: %w", err)
	}
	return fillDays(r, days), nil
}

// PlatformByModel returns usage across every app per model, for admins.
func (s *Usage) PlatformByModel(ctx context.Context, mode wattfare.Mode, from, to time.Time) ([]ModelUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	return collectModelUsage(s.DB.Query(ctx, `SELECT model, `+sums+` FROM usage_daily
WHERE mode = $1 AND day BETWEEN $2 AND $3 GROUP BY model ORDER BY 5 DESC, model`, string(mode), r.First, r.Last))
}

// PlatformByApp returns the first apps by cost, for admins.
func (s *Usage) PlatformByApp(ctx context.Context, mode wattfare.Mode, from, to time.Time, first int) ([]AppUsage, error) {
	r, err := Days(from, to)
	if err != nil {
		return nil, err
	}
	if err := checkTop(first); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT app_id, `+sums+` FROM usage_daily
WHERE mode = $1 AND day BETWEEN $2 AND $3 GROUP BY app_id ORDER BY 5 DESC, app_id LIMIT $4`, string(mode), r.First, r.Last, first)
	if err != nil {
		return nil, fmt.Errorf("platform usage by app: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppUsage, error) {
		var u AppUsage
		err := r.Scan(&u.AppID, &u.Requests, &u.PromptTokens, &u.CompletionTokens, &u.Cost)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("platform usage by app: %w", err)
	}
	return out, nil
}

// Receipts returns a page of accountID's settled requests in mode within
// [from, to) (either may be nil), newest first.
func (s *Usage) Receipts(ctx context.Context, accountID string, mode wattfare.Mode, from, to *time.Time, p Page) (Paged[Receipt], error) {
	if from != nil && to != nil && !to.After(*from) {
		return Paged[Receipt]{}, wattfare.InvalidField("to", "must be after from")
	}
	return listPage(ctx, s.DB, p, `
SELECT request_id, created_at, app_id, mode, model, status, stream, prompt_tokens, completion_tokens, cost, charged, duration_ms
FROM usage_events
WHERE account_id = $1 AND mode = $2 AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)`,
		"created_at", "request_id", []any{accountID, string(mode), from, to},
		func(row pgx.Row) (Receipt, error) {
			var r Receipt
			var m string
			err := row.Scan(&r.RequestID, &r.CreatedAt, &r.AppID, &m, &r.Model, &r.Status, &r.Stream, &r.PromptTokens, &r.CompletionTokens,
				&r.Cost, &r.Charged, &r.DurationMs)
			r.Mode = wattfare.Mode(m)
			return r, err
		},
		func(r Receipt) cursorKey { return cursorKey{r.CreatedAt, r.RequestID} })
}
