package wattfare

import (
	"context"
	"slices"
	"time"
)

// Alerts to people (issue 15). A budget owner chooses which thresholds of
// each connection's cap alert them (AlertPercents, by default 80 and 100 %)
// and an amount under which their wallet's balance alerts them, per mode
// (off by default). Each alert fires once: a threshold once per connection
// and period, the wallet once per crossing below the amount (again only
// after the balance went back to it or above). A fired alert is listed on
// the budget page until dismissed, and emailed when SMTP is configured.

// AlertPercents are the thresholds of a cap that can alert, in percent.
var AlertPercents = []int{50, 80, 100}

// DefaultAlertPercents are the thresholds that alert when the owner has
// chosen none for a connection.
var DefaultAlertPercents = []int{80, 100}

// ValidAlertPercents reports whether ps is a choice of AlertPercents (each
// at most once); the empty choice turns a connection's alerts off.
func ValidAlertPercents(ps []int) bool {
	seen := map[int]bool{}
	for _, p := range ps {
		if !slices.Contains(AlertPercents, p) || seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

// ConnectionAlerts is which thresholds of one connection's cap alert its
// owner.
type ConnectionAlerts struct {
	ConnectionID string
	AppName      string
	Mode         Mode
	Status       ConnectionStatus
	MonthlyCap   Money
	// Percents are the chosen thresholds, ascending.
	Percents []int
	// Default is true while the owner has not chosen: Percents are then
	// DefaultAlertPercents.
	Default bool
}

// WalletAlert is a wallet's low-balance alert in one mode. The balance it
// watches is credits less captured spend (Wallet.Credits - Wallet.Captured):
// amounts held for requests in flight come and go, and are left out.
type WalletAlert struct {
	Mode Mode
	// Below is the amount; nil when the alert is off.
	Below *Money
	// Armed is whether the next crossing below Below fires: false after
	// one fired, until the balance is back at or above it.
	Armed   bool
	Balance Money
}

// AlertKind says what fired an alert.
type AlertKind string

const (
	AlertCap    AlertKind = "cap"    // a threshold of a connection's cap
	AlertWallet AlertKind = "wallet" // the wallet's balance fell under the amount
)

// AlertEmailStatus is where an alert's email is.
type AlertEmailStatus string

const (
	AlertEmailPending       AlertEmailStatus = "pending"        // not sent yet (or being retried)
	AlertEmailSent          AlertEmailStatus = "sent"           // the SMTP server took it
	AlertEmailFailed        AlertEmailStatus = "failed"         // every attempt failed
	AlertEmailNotConfigured AlertEmailStatus = "not_configured" // no SMTP: shown on the budget page only
)

// Alert is one alert fired, as the budget page lists it. Cap alerts carry
// the connection, threshold, cap and spend when it fired; wallet alerts the
// amount and the balance.
type Alert struct {
	ID           string
	AccountID    string
	Mode         Mode
	Kind         AlertKind
	ConnectionID string
	AppName      string
	// Period is the start of the month a cap alert is about.
	Period      time.Time
	Percent     int
	MonthlyCap  Money
	Spent       Money
	Below       Money
	Balance     Money
	CreatedAt   time.Time
	EmailStatus AlertEmailStatus
	EmailedAt   *time.Time
	DismissedAt *time.Time
}

// MaxAlertsListed bounds one read of fired alerts.
const MaxAlertsListed = 100

// AlertService reads and changes a budget owner's alert choices and lists
// the alerts fired. Every method acts for the signed-in account accountID:
// another account's connection or alert is ENOTFOUND, as a missing one.
type AlertService interface {
	// Emails reports whether alerts are emailed (SMTP is configured) or
	// shown on the budget page only.
	Emails() bool

	// ConnectionAlerts returns the alert choices of accountID's
	// connections in mode (revoked ones too), newest connection first.
	ConnectionAlerts(ctx context.Context, accountID string, mode Mode) ([]ConnectionAlerts, error)

	// UpdateConnectionAlerts sets the thresholds of connectionID's cap
	// that alert.
	//
	// Returns EINVALID (field percents) for a threshold other than 50, 80
	// or 100 or one given twice, and ENOTFOUND.
	UpdateConnectionAlerts(ctx context.Context, accountID, connectionID string, percents []int) (ConnectionAlerts, error)

	// WalletAlert returns the low-balance alert of accountID's wallet in mode.
	WalletAlert(ctx context.Context, accountID string, mode Mode) (WalletAlert, error)

	// UpdateWalletAlert sets the amount (nil: off). A balance already under
	// the new amount does not fire: the alert is armed once the balance is
	// at or above it.
	//
	// Returns EINVALID (field below) for an amount that is not positive.
	UpdateWalletAlert(ctx context.Context, accountID string, mode Mode, below *Money) (WalletAlert, error)

	// Alerts returns up to first (1 to MaxAlertsListed) alerts fired in
	// mode, newest first; dismissed ones only when includeDismissed.
	//
	// Returns EINVALID (field first).
	Alerts(ctx context.Context, accountID string, mode Mode, includeDismissed bool, first int) ([]Alert, error)

	// DismissAlert hides an alert from the budget page's list; dismissing
	// it again changes nothing.
	//
	// Returns ENOTFOUND.
	DismissAlert(ctx context.Context, accountID, alertID string) (Alert, error)
}

// Email is one message to a person: a plain-text body and the same in HTML.
type Email struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string // without the angle brackets; lets mail clients drop a copy
}
