package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
)

// Alerts are people's budget alerts (migrations/018_alerts_to_people.sql):
// their choices, the alerts fired, and the email jobs' sent state. The
// alerts themselves fire in the ledger's SQL (wattfare_cap_alert,
// wattfare_wallet_alert), in the transaction of the crossing.
type Alerts struct {
	DB *pgxpool.Pool
	// Email is true when SMTP is configured: fired alerts are emailed as
	// well as listed on the budget page.
	Email bool
}

var (
	_ wattfare.AlertService = (*Alerts)(nil)
	_ jobs.AlertStore       = (*Alerts)(nil)
)

func (s *Alerts) Emails() bool { return s.Email }

func errNoAlert() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such alert") }

const connectionAlertsSelect = `
	SELECT c.id, a.name, c.mode, c.status, c.monthly_cap, s.percents
	FROM connections c
	JOIN apps a ON a.id = c.app_id
	LEFT JOIN connection_alert_settings s ON s.connection_id = c.id`

func scanConnectionAlerts(row pgx.Row) (wattfare.ConnectionAlerts, error) {
	var ca wattfare.ConnectionAlerts
	var ps []int16
	var cp int64
	if err := row.Scan(&ca.ConnectionID, &ca.AppName, &ca.Mode, &ca.Status, &cp, &ps); err != nil {
		return ca, err
	}
	ca.MonthlyCap = wattfare.Money(cp)
	if ps == nil {
		ca.Default = true
		ca.Percents = slices.Clone(wattfare.DefaultAlertPercents)
	} else {
		ca.Percents = make([]int, 0, len(ps))
		for _, p := range ps {
			ca.Percents = append(ca.Percents, int(p))
		}
		slices.Sort(ca.Percents)
	}
	return ca, nil
}

func (s *Alerts) ConnectionAlerts(ctx context.Context, accountID string, mode wattfare.Mode) ([]wattfare.ConnectionAlerts, error) {
	rows, err := s.DB.Query(ctx, connectionAlertsSelect+`
		WHERE c.account_id = $1 AND c.mode = $2
		ORDER BY c.created_at DESC, c.id`, accountID, mode)
	if err != nil {
		return nil, fmt.Errorf("read connection alerts: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.ConnectionAlerts, error) { return scanConnectionAlerts(r) })
	if err != nil {
		return nil, fmt.Errorf("read connection alerts: %w", interpretError(err))
	}
	return out, nil
}

func (s *Alerts) UpdateConnectionAlerts(ctx context.Context, accountID, connectionID string, percents []int) (wattfare.ConnectionAlerts, error) {
	if !wattfare.ValidAlertPercents(percents) {
		return wattfare.ConnectionAlerts{}, wattfare.InvalidField("percents", "choose among 50, 80 and 100 %%, each once")
	}
	ps := make([]int16, len(percents))
	for i, p := range percents {
		ps[i] = int16(p)
	}
	slices.Sort(ps)
	tag, err := s.DB.Exec(ctx, `
		INSERT INTO connection_alert_settings (connection_id, percents)
		SELECT c.id, $3 FROM connections c WHERE c.id = $1 AND c.account_id = $2
		ON CONFLICT (connection_id) DO UPDATE SET percents = EXCLUDED.percents, updated_at = now()`,
		connectionID, accountID, ps)
	if err != nil {
		return wattfare.ConnectionAlerts{}, fmt.Errorf("update connection alerts: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return wattfare.ConnectionAlerts{}, errNoConnection()
	}
	ca, err := scanConnectionAlerts(s.DB.QueryRow(ctx, connectionAlertsSelect+` WHERE c.id = $1 AND c.account_id = $2`,
		connectionID, accountID))
	if err != nil {
		return ca, fmt.Errorf("read connection alerts: %w", interpretError(err, errNoConnection()))
	}
	return ca, nil
}

func (s *Alerts) WalletAlert(ctx context.Context, accountID string, mode wattfare.Mode) (wattfare.WalletAlert, error) {
	wa := wattfare.WalletAlert{Mode: mode, Armed: true}
	var below *int64
	var bal int64
	err := s.DB.QueryRow(ctx, `SELECT alert_below, alert_armed, credits - captured FROM wallets WHERE account_id = $1 AND mode = $2`,
		accountID, mode).Scan(&below, &wa.Armed, &bal)
	if err == pgx.ErrNoRows {
		return wa, nil
	}
	if err != nil {
		return wa, fmt.Errorf("read wallet alert: %w", interpretError(err))
	}
	wa.Balance = wattfare.Money(bal)
	if below != nil {
		m := wattfare.Money(*below)
		wa.Below = &m
	}
	return wa, nil
}

func (s *Alerts) UpdateWalletAlert(ctx context.Context, accountID string, mode wattfare.Mode, below *wattfare.Money) (wattfare.WalletAlert, error) {
	if below != nil && (*below <= 0 || *below > wattfare.MaxMoney) {
		return wattfare.WalletAlert{}, wattfare.InvalidField("below", "the amount must be more than $0")
	}
	var b *int64
	if below != nil {
		v := below.Nanos()
		b = &v
	}
	// Armed only while the balance is at or above the amount: setting an
	// amount over the balance does not fire at once, the next crossing
	// does. A wallet not made yet (a live one before its first top-up) is
	// made here, empty.
	if _, err := s.DB.Exec(ctx, `
		INSERT INTO wallets (account_id, mode, alert_below, alert_armed) VALUES ($1, $2, $3::bigint, $3::bigint IS NULL)
		ON CONFLICT (account_id, mode) DO UPDATE SET alert_below = EXCLUDED.alert_below,
			alert_armed = EXCLUDED.alert_below IS NULL OR wallets.credits - wallets.captured >= EXCLUDED.alert_below`,
		accountID, mode, b); err != nil {
		return wattfare.WalletAlert{}, fmt.Errorf("update wallet alert: %w", interpretError(err))
	}
	return s.WalletAlert(ctx, accountID, mode)
}

const (
	alertColumns = `
	SELECT al.id, al.account_id, al.mode, al.kind, coalesce(al.connection_id, ''), coalesce(a.name, ''), al.period,
		coalesce(al.percent, 0), coalesce(al.monthly_cap, 0), coalesce(al.spent, 0), coalesce(al.below, 0),
		coalesce(al.balance, 0), al.created_at, al.email_status, al.emailed_at, al.dismissed_at`
	alertFrom = `
	FROM alerts al
	LEFT JOIN connections c ON c.id = al.connection_id
	LEFT JOIN apps a ON a.id = c.app_id`
	alertSelect = alertColumns + alertFrom
)

func scanAlert(row pgx.Row, extra ...any) (wattfare.Alert, error) {
	var al wattfare.Alert
	var period pgtype.Date
	var pct int16
	var cp, spent, below, bal int64
	dest := append([]any{&al.ID, &al.AccountID, &al.Mode, &al.Kind, &al.ConnectionID, &al.AppName, &period,
		&pct, &cp, &spent, &below, &bal, &al.CreatedAt, &al.EmailStatus, &al.EmailedAt, &al.DismissedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return al, err
	}
	if period.Valid {
		al.Period = period.Time
	}
	al.Percent = int(pct)
	al.MonthlyCap, al.Spent, al.Below, al.Balance = wattfare.Money(cp), wattfare.Money(spent), wattfare.Money(below), wattfare.Money(bal)
	return al, nil
}

func (s *Alerts) Alerts(ctx context.Context, accountID string, mode wattfare.Mode, includeDismissed bool, first int) ([]wattfare.Alert, error) {
	if first < 1 || first > wattfare.MaxAlertsListed {
		return nil, wattfare.InvalidField("first", "first must be between 1 and %d", wattfare.MaxAlertsListed)
	}
	rows, err := s.DB.Query(ctx, alertSelect+`
		WHERE al.account_id = $1 AND al.mode = $2 AND ($3 OR al.dismissed_at IS NULL)
		ORDER BY al.created_at DESC, al.id DESC LIMIT $4`, accountID, mode, includeDismissed, first)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", interpretError(err))
	}
	return out, nil
}

func (s *Alerts) DismissAlert(ctx context.Context, accountID, alertID string) (wattfare.Alert, error) {
	tag, err := s.DB.Exec(ctx, `UPDATE alerts SET dismissed_at = coalesce(dismissed_at, now()) WHERE id = $1 AND account_id = $2`,
		alertID, accountID)
	if err != nil {
		return wattfare.Alert{}, fmt.Errorf("dismiss alert: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return wattfare.Alert{}, errNoAlert()
	}
	al, err := scanAlert(s.DB.QueryRow(ctx, alertSelect+` WHERE al.id = $1`, alertID))
	if err != nil {
		return al, fmt.Errorf("read alert: %w", interpretError(err, errNoAlert()))
	}
	return al, nil
}

// SendOnce holds the alert's row (FOR UPDATE) for the whole send, so a
// second worker of the same alert waits, then finds its email no longer
// pending. The lock is held across the SMTP exchange, which the mailer
// bounds (30 s).
func (s *Alerts) SendOnce(ctx context.Context, alertID string, send jobs.SendAlert) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var to string
		al, err := scanAlert(tx.QueryRow(ctx, alertColumns+`, acc.email`+alertFrom+`
			JOIN accounts acc ON acc.id = al.account_id
			WHERE al.id = $1 FOR UPDATE OF al`, alertID), &to)
		if err != nil {
			return fmt.Errorf("read alert: %w", interpretError(err, errNoAlert()))
		}
		if al.EmailStatus != wattfare.AlertEmailPending {
			return nil
		}
		status, sendErr := send(ctx, al, to)
		var msg *string
		if sendErr != nil {
			m := sendErr.Error()
			if len(m) > 500 {
				m = m[:500]
			}
			msg = &m
		}
		var sentAt *time.Time
		if status == wattfare.AlertEmailSent {
			now := time.Now()
			sentAt = &now
		}
		if _, err := tx.Exec(ctx, `UPDATE alerts SET email_status = $2, email_attempts = email_attempts + 1,
			email_error = $3, emailed_at = $4 WHERE id = $1`, alertID, status, msg, sentAt); err != nil {
			return fmt.Errorf("record alert email: %w", interpretError(err))
		}
		return nil
	})
}
