package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/jobs"
)

// ServiceOptions are what the services of NewServices take besides the pool.
type ServiceOptions struct {
	// LeaseWait bounds how long a write that stops spending (a revoke, a
	// suspension, a lowered cap) waits for data-plane leases.
	LeaseWait time.Duration
	// ReservedOrigins are Wattfare's own origins, which no app may register
	// (see Apps).
	ReservedOrigins []string
	// Jobs inserts the durable jobs that writes cause, in their own
	// transaction (package jobs). Nil in tests that run no jobs: the
	// writes then cause none.
	Jobs jobs.Queue
	// Backstop turns on the upstream backstop (package jobs'
	// UpstreamKeys, WATTFARE_OPENROUTER_MANAGEMENT_KEY set): approving a
	// live connection provisions its own OpenRouter key, and cap changes,
	// revokes and suspensions keep that key in line, through Jobs.
	Backstop bool
	// Payments is Stripe (package stripe), nil when it is not configured:
	// top-ups are refused then, admin grants still work.
	Payments wattfare.PaymentProvider
	// PublicURL is the control plane's origin, for Checkout's return URLs.
	PublicURL string
	// MinTopUp and MaxTopUp bound one top-up (DefaultMinTopUp,
	// DefaultMaxTopUp when zero).
	MinTopUp, MaxTopUp wattfare.Money
	// Webhooks seals endpoints' signing secrets; nil: no endpoint can be
	// created (WATTFARE_ENCRYPTION_KEY unset). Events are written either way.
	Webhooks *keyring.Keyring
	// AlertEmail is true when SMTP is configured: budget alerts are
	// emailed as well as listed on the budget page.
	AlertEmail bool
}

// NewServices returns every domain service on db.
func NewServices(db *pgxpool.Pool, o ServiceOptions) wattfare.Services {
	accounts := &Accounts{DB: db}
	events := Outbox{Jobs: o.Jobs}
	var bs Backstop
	var report wattfare.BackstopService
	if o.Backstop {
		bs = Backstop{Jobs: o.Jobs, LeaseWait: o.LeaseWait}
		report = &UpstreamKeys{DB: db}
	}
	return wattfare.Services{
		Backstop:    report,
		Accounts:    accounts,
		Sessions:    accounts,
		Apps:        &Apps{DB: db, LeaseWait: o.LeaseWait, ReservedOrigins: o.ReservedOrigins, Backstop: bs, Events: events},
		Keys:        &Keys{DB: db, LeaseWait: o.LeaseWait, Events: events},
		Connections: &Connections{DB: db, LeaseWait: o.LeaseWait, Backstop: bs, Events: events},
		Wallets:     &Wallets{DB: db},
		Usage:       &Usage{DB: db},
		Models:      &Models{DB: db, Backstop: bs},
		Consent:     &Consent{DB: db, Backstop: bs, Events: events},
		Webhooks:    &Webhooks{DB: db, Jobs: o.Jobs, Ring: o.Webhooks},
		Alerts:      &Alerts{DB: db, Email: o.AlertEmail},
		Payments:    &Payments{DB: db, Provider: o.Payments, PublicURL: o.PublicURL, MinTopUp: o.MinTopUp, MaxTopUp: o.MaxTopUp},
	}
}
