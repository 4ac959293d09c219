package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/smtp"
)

// Alerts to people: every control-plane process works the alert email jobs.
// WATTFARE_SMTP_URL (smtp://[user:password@]host:port or smtps://…) is the
// server they go through, WATTFARE_SMTP_FROM the sender (smtp.DefaultFrom
// by default); without a URL alerts are shown on the budget page only.
// `wattfare dev` sets the URL to its mailpit when one is installed.

func init() {
	jobSetups = append(jobSetups, func(ctx context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error {
		mailer, err := smtpFromEnv()
		if err != nil {
			return err
		}
		a := &jobs.Alerts{Store: &postgres.Alerts{DB: pool}, BudgetURL: budgetURL()}
		if mailer != nil {
			a.Mailer = mailer
		}
		if v := os.Getenv("WATTFARE_ALERT_RETRY_BASE"); v != "" {
			if a.RetryBase, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("WATTFARE_ALERT_RETRY_BASE: %w", err)
			}
		}
		a.Register(reg)
		if err := metricsRegistry.Register(&alertCollector{a: a}); err != nil {
			slog.Warn("metrics: alerts already registered", "err", err)
		}
		return nil
	})
}

// smtpFromEnv is the alert emails' SMTP server, nil when none is set.
func smtpFromEnv() (*smtp.Sender, error) {
	raw := os.Getenv("WATTFARE_SMTP_URL")
	if raw == "" {
		return nil, nil
	}
	s, err := smtp.New(raw, os.Getenv("WATTFARE_SMTP_FROM"))
	if err != nil {
		return nil, fmt.Errorf("WATTFARE_SMTP_URL: %w", err)
	}
	return s, nil
}

// alertEmail reports whether alerts are emailed, for the budget page.
func alertEmail() bool { return os.Getenv("WATTFARE_SMTP_URL") != "" }

// budgetURL is the budget page the emails link to: the control plane's
// public URL, as runControl and `wattfare dev` take it.
func budgetURL() string {
	base := envOr("WATTFARE_PUBLIC_URL", "http://"+envOr("WATTFARE_CONTROL_ADDR", "127.0.0.1:8080"))
	return strings.TrimRight(base, "/") + "/budget"
}

var dAlertEmails = prometheus.NewDesc("wattfare_alert_emails_total",
	"Budget alert email attempts by outcome: sent, failed (retried later), gave_up (the last attempt failed), not_configured (no SMTP: shown on the budget page only).",
	[]string{"outcome"}, nil)

type alertCollector struct{ a *jobs.Alerts }

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dAlertEmails }

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	o := &c.a.Outcomes
	ch <- counter(dAlertEmails, o.Sent.Load(), "sent")
	ch <- counter(dAlertEmails, o.Failed.Load(), "failed")
	ch <- counter(dAlertEmails, o.GaveUp.Load(), "gave_up")
	ch <- counter(dAlertEmails, o.NotConfigured.Load(), "not_configured")
}
