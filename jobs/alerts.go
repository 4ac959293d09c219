package jobs

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
)

// Alerts to people (issue 15). An alert fires in the transaction of the
// crossing that causes it (a settlement's or a lease grant's threshold of a
// cap, a wallet's balance under its amount: migrations/functions'
// wattfare_cap_alert and wattfare_wallet_alert), and that transaction
// inserts its AlertEmail job. The job emails the alert's owner once: the
// alert's row keeps the email's state, and the job sends while holding the
// row, so a retried job, or a rescued one worked again beside the first,
// finds the email sent and sends nothing.

// AlertEmail emails one alert. The ledger's SQL inserts it
// (wattfare_alert_job), with kind "alert.email".
type AlertEmail struct {
	AlertID string `json:"alert_id"`
}

func (AlertEmail) Kind() string { return "alert.email" }

// Mailer sends email (package smtp). Send returns once the server took the
// message, or with why it did not.
type Mailer interface {
	Send(ctx context.Context, e wattfare.Email) error
}

// SendAlert is what AlertStore.SendOnce calls to send an alert's email: it
// returns the email's new state and the error to record, if any.
type SendAlert func(ctx context.Context, a wattfare.Alert, to string) (wattfare.AlertEmailStatus, error)

// AlertStore is the alerts' Postgres side (postgres.Alerts).
type AlertStore interface {
	// SendOnce reads alertID with its owner's email address and, unless
	// its email is no longer pending, calls send with them and records
	// what it returned (the state, one more attempt, the error's text) —
	// all while holding the alert's row, so that no two workers send it.
	// An unknown alert is an error.
	SendOnce(ctx context.Context, alertID string, send SendAlert) error
}

// AlertOutcomes counts the alert emails' attempts by outcome.
type AlertOutcomes struct {
	Sent          atomic.Uint64 // the SMTP server took it
	Failed        atomic.Uint64 // failed, retried later
	GaveUp        atomic.Uint64 // failed for the last time
	NotConfigured atomic.Uint64 // no SMTP: shown on the budget page only
}

// Alerts works the alert email jobs.
type Alerts struct {
	Store AlertStore
	// Mailer sends the emails; nil when SMTP is not configured, and then
	// alerts are shown on the budget page only.
	Mailer Mailer
	// BudgetURL is the budget page every email links to
	// (<control URL>/budget).
	BudgetURL string
	// AppName names the product in the emails ("Wattfare" when empty).
	AppName string
	// RetryBase is the wait after a first failed attempt (default 30 s),
	// doubled each attempt up to an hour. The job's attempts (25, from
	// wattfare_alert_job) bound the retries: about a day.
	RetryBase time.Duration
	Outcomes  AlertOutcomes
	Logger    *slog.Logger
}

// Register adds the alert email worker.
func (a *Alerts) Register(r *Registry) { Add(r, &alertWorker{a: a}) }

func (a *Alerts) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Alerts) appName() string {
	if a.AppName != "" {
		return a.AppName
	}
	return "Wattfare"
}

type alertWorker struct {
	river.WorkerDefaults[AlertEmail]
	a *Alerts
}

// Timeout bounds one attempt: the SMTP exchange (its own 30 s) and the
// bookkeeping around it.
func (w *alertWorker) Timeout(*river.Job[AlertEmail]) time.Duration { return time.Minute }

// NextRetry spaces out attempts from RetryBase, doubling.
func (w *alertWorker) NextRetry(j *river.Job[AlertEmail]) time.Time {
	base := w.a.RetryBase
	if base <= 0 {
		base = 30 * time.Second
	}
	return time.Now().Add(min(base<<min(max(j.Attempt-1, 0), 20), time.Hour))
}

func (w *alertWorker) Work(ctx context.Context, j *river.Job[AlertEmail]) error {
	a := w.a
	var sendErr error
	err := a.Store.SendOnce(ctx, j.Args.AlertID, func(ctx context.Context, al wattfare.Alert, to string) (wattfare.AlertEmailStatus, error) {
		if a.Mailer == nil {
			a.Outcomes.NotConfigured.Add(1)
			return wattfare.AlertEmailNotConfigured, nil
		}
		sendErr = a.Mailer.Send(ctx, a.Message(al, to))
		if sendErr == nil {
			a.Outcomes.Sent.Add(1)
			return wattfare.AlertEmailSent, nil
		}
		if j.Attempt >= j.MaxAttempts {
			a.Outcomes.GaveUp.Add(1)
			return wattfare.AlertEmailFailed, sendErr
		}
		a.Outcomes.Failed.Add(1)
		return wattfare.AlertEmailPending, sendErr
	})
	if err != nil {
		return fmt.Errorf("alert %s: %w", j.Args.AlertID, err)
	}
	if sendErr != nil {
		a.log().Warn("alert email failed", "alert", j.Args.AlertID, "attempt", j.Attempt, "err", sendErr)
		return fmt.Errorf("send alert %s: %w", j.Args.AlertID, sendErr)
	}
	return nil
}

// Message is the email for alert al to address to: what fired, the
// connection's cap and spend or the wallet's balance, and the link to the
// budget page where the alert can be changed.
func (a *Alerts) Message(al wattfare.Alert, to string) wattfare.Email {
	name := a.appName()
	mode := "test"
	if al.Mode == wattfare.ModeLive {
		mode = "live"
	}
	var subject string
	var lines []string
	switch al.Kind {
	case wattfare.AlertWallet:
		subject = fmt.Sprintf("%s: your %s wallet is under %s", name, mode, usd(al.Below))
		lines = []string{
			fmt.Sprintf("Your %s wallet's balance is %s, under the %s you asked to hear about.", mode, usd(al.Balance), usd(al.Below)),
			"When it runs out, your connected apps' requests are refused until you add funds.",
		}
	default:
		subject = fmt.Sprintf("%s: %s has used %d %% of its %s monthly cap", name, al.AppName, al.Percent, usd(al.MonthlyCap))
		lines = []string{
			fmt.Sprintf("%s has spent %s of the %s monthly cap you approved for it (%d %% threshold, %s mode).",
				al.AppName, usd(al.Spent), usd(al.MonthlyCap), al.Percent, mode),
		}
		if al.Percent >= 100 {
			lines[0] = fmt.Sprintf("%s has reached the %s monthly cap you approved for it (%s spent or reserved for requests in progress, %s mode).",
				al.AppName, usd(al.MonthlyCap), usd(al.Spent), mode)
		}
		resets := wattfare.PeriodEnd(al.Period).Format("January 2, 2006")
		if al.Percent >= 100 {
			lines = append(lines, fmt.Sprintf("Its requests are refused until the cap resets on %s, or until you raise it.", resets))
		} else {
			lines = append(lines, fmt.Sprintf("At 100 %% its requests are refused until the cap resets on %s, or until you raise it.", resets))
		}
	}
	link := a.BudgetURL
	foot := "You get this email because this alert is on. Choose which alerts you get on your budget page."

	var text strings.Builder
	text.WriteString("Hello,\n\n")
	for _, l := range lines {
		text.WriteString(l + "\n\n")
	}
	text.WriteString("Your budget: " + link + "\n\n-- \n" + foot + "\n")

	var h strings.Builder
	h.WriteString(`<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">`)
	h.WriteString("<p>Hello,</p>")
	for _, l := range lines {
		h.WriteString("<p>" + html.EscapeString(l) + "</p>")
	}
	h.WriteString(`<p><a href="` + html.EscapeString(link) + `">Open your budget</a></p>`)
	h.WriteString(`<p style="color: #666; font-size: 0.9em">` + html.EscapeString(foot) + "</p>")
	h.WriteString("</body></html>")

	return wattfare.Email{To: to, Subject: subject, Text: text.String(), HTML: h.String(), MessageID: al.ID + "@wattfare"}
}

// usd formats m in dollars and cents, rounded to the nearest cent ("$8.00").
func usd(m wattfare.Money) string {
	neg := m < 0
	if neg {
		m = -m
	}
	cents := (int64(m) + int64(wattfare.Cent)/2) / int64(wattfare.Cent)
	s := "$" + strconv.FormatInt(cents/100, 10) + "." + fmt.Sprintf("%02d", cents%100)
	if neg {
		s = "-" + s
	}
	return s
}
