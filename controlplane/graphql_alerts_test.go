package controlplane_test

import (
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

const alertSettingsQuery = `{ me { alertSettings(mode: TEST) { mode email emailAddress
	connections { connectionId appName status monthlyCap percents isDefault }
	wallet { mode below armed balance } } } }`

const alertsQuery = `query($all: Boolean) { me { alerts(mode: TEST, includeDismissed: $all, first: 10) {
	id mode kind connectionId appName percent monthlyCap spent below balance createdAt emailStatus emailedAt dismissedAt } } }`

type alertOut struct {
	ID, Mode, Kind         string
	ConnectionID, AppName  *string
	Percent                *int
	MonthlyCap, Spent      *string
	Below, Balance         *string
	CreatedAt              time.Time
	EmailStatus            string
	EmailedAt, DismissedAt *time.Time
}

// TestGraphQLBudgetAlerts is the budget page's alerts section: the choices
// it shows (80 and 100 % by default, the wallet's alert off), changing them,
// the alerts a crossing fires (once each, only the thresholds chosen), and
// dismissing one; another account sees none of it.
func TestGraphQLBudgetAlerts(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "al") // a $10 cap with $2.50 spent; the wallet holds $20.00 with $2.50 captured
	period := wattfare.PeriodStart(time.Now())

	type settings struct {
		Mode, EmailAddress string
		Email              bool
		Connections        []struct {
			ConnectionID, AppName, Status, MonthlyCap string
			Percents                                  []int
			IsDefault                                 bool
		}
		Wallet struct {
			Mode    string
			Below   *string
			Armed   bool
			Balance string
		}
	}
	var got struct {
		Me struct{ AlertSettings settings }
	}
	f.user.mustDo(alertSettingsQuery, nil, &got)
	s := got.Me.AlertSettings
	if s.Mode != "TEST" || s.Email || s.EmailAddress != "al-user@example.com" {
		t.Fatalf("settings = %+v: want TEST, no email (no SMTP here), the user's address", s)
	}
	if len(s.Connections) != 1 || s.Connections[0].ConnectionID != f.connID || s.Connections[0].AppName != "al app" ||
		s.Connections[0].MonthlyCap != "10.00" || !s.Connections[0].IsDefault || len(s.Connections[0].Percents) != 2 ||
		s.Connections[0].Percents[0] != 80 || s.Connections[0].Percents[1] != 100 || s.Connections[0].Status != "ACTIVE" {
		t.Fatalf("connections = %+v: want the $10 connection with the default 80 and 100 %%", s.Connections)
	}
	if s.Wallet.Below != nil || s.Wallet.Balance != "17.50" || s.Wallet.Mode != "TEST" {
		t.Fatalf("wallet = %+v: want off, balance $17.50", s.Wallet)
	}

	const updateConn = `mutation($in: UpdateConnectionAlertsInput!) { updateConnectionAlerts(input: $in) { connectionId percents isDefault } }`
	const updateWallet = `mutation($in: UpdateWalletAlertInput!) { updateWalletAlert(input: $in) { mode below armed balance } }`
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, ps := range [][]int{{70}, {50, 50}, {0}, {120}} {
			f.user.wantCode("INVALID_INPUT", "percents", updateConn, map[string]any{"in": map[string]any{"connectionId": f.connID, "percents": ps}})
		}
		for _, b := range []string{"0", "-1", "ten"} {
			f.user.wantCode("INVALID_INPUT", "", updateWallet, map[string]any{"in": map[string]any{"mode": "TEST", "below": b}})
		}
	})
	t.Run("ErrNotOwner", func(t *testing.T) {
		f.dev.wantCode("NOT_FOUND", "", updateConn, map[string]any{"in": map[string]any{"connectionId": f.connID, "percents": []int{50}}})
	})

	var uc struct {
		UpdateConnectionAlerts struct {
			ConnectionID string
			Percents     []int
			IsDefault    bool
		}
	}
	f.user.mustDo(updateConn, map[string]any{"in": map[string]any{"connectionId": f.connID, "percents": []int{100, 50}}}, &uc)
	if p := uc.UpdateConnectionAlerts.Percents; uc.UpdateConnectionAlerts.IsDefault || len(p) != 2 || p[0] != 50 || p[1] != 100 {
		t.Fatalf("updated = %+v: want 50 and 100, chosen", uc.UpdateConnectionAlerts)
	}
	var uw struct {
		UpdateWalletAlert struct {
			Mode    string
			Below   *string
			Armed   bool
			Balance string
		}
	}
	// Under $18 already: setting it does not fire, and it is not armed
	// until the balance is back at $18.
	f.user.mustDo(updateWallet, map[string]any{"in": map[string]any{"mode": "TEST", "below": "18"}}, &uw)
	if w := uw.UpdateWalletAlert; w.Below == nil || *w.Below != "18.00" || w.Armed {
		t.Fatalf("wallet alert at $18 with $17.50 left = %+v: want set, not armed", w)
	}
	f.user.mustDo(updateWallet, map[string]any{"in": map[string]any{"mode": "TEST", "below": "17"}}, &uw)
	if w := uw.UpdateWalletAlert; w.Below == nil || *w.Below != "17.00" || !w.Armed || w.Balance != "17.50" {
		t.Fatalf("wallet alert at $17 = %+v: want armed", w)
	}

	// Spend crosses 80 % of the cap (not chosen) and 50 % (chosen), and the
	// wallet's balance falls to $17.00 (not under) and then to $16.90.
	h.exec(`UPDATE connection_periods SET captured = 8000000000 WHERE connection_id = $1 AND period = $2`, f.connID, period)
	h.exec(`SELECT wattfare_spend_crossed(ARRAY[$1::text], ARRAY[$2::date])`, f.connID, period)
	h.exec(`SELECT wattfare_spend_crossed(ARRAY[$1::text], ARRAY[$2::date])`, f.connID, period) // again: nothing new
	h.exec(`UPDATE wallets SET captured = 3000000000 WHERE account_id = $1 AND mode = 'test'`, f.userID)
	h.exec(`UPDATE wallets SET captured = 3100000000 WHERE account_id = $1 AND mode = 'test'`, f.userID)
	h.exec(`UPDATE wallets SET captured = 3200000000 WHERE account_id = $1 AND mode = 'test'`, f.userID) // still under: no second

	var list struct{ Me struct{ Alerts []alertOut } }
	f.user.mustDo(alertsQuery, nil, &list)
	as := list.Me.Alerts
	if len(as) != 2 {
		t.Fatalf("alerts = %+v: want the wallet's and the 50 %% one", as)
	}
	w, c := as[0], as[1] // newest first
	if w.Kind != "WALLET" || w.Below == nil || *w.Below != "17.00" || w.Balance == nil || *w.Balance != "16.90" || w.ConnectionID != nil || w.Mode != "TEST" {
		t.Fatalf("wallet alert = %+v", w)
	}
	if c.Kind != "CAP" || c.ConnectionID == nil || *c.ConnectionID != f.connID || c.AppName == nil || *c.AppName != "al app" ||
		c.Percent == nil || *c.Percent != 50 || *c.MonthlyCap != "10.00" || *c.Spent != "8.00" || c.EmailStatus != "PENDING" || c.DismissedAt != nil {
		t.Fatalf("cap alert = %+v: want 50 %% of $10 at $8.00 spent, its email pending", c)
	}
	if n := h.count(`SELECT count(*) FROM river_job WHERE kind = 'alert.email'`); n != 2 {
		t.Fatalf("%d alert email jobs for 2 alerts", n)
	}

	var other struct{ Me struct{ Alerts []alertOut } }
	f.dev.mustDo(alertsQuery, nil, &other)
	if len(other.Me.Alerts) != 0 {
		t.Fatalf("another account sees %d alerts", len(other.Me.Alerts))
	}
	f.dev.wantCode("NOT_FOUND", "", `mutation($id: ID!) { dismissAlert(id: $id) { id } }`, map[string]any{"id": c.ID})

	var dis struct{ DismissAlert alertOut }
	f.user.mustDo(`mutation($id: ID!) { dismissAlert(id: $id) { id dismissedAt } }`, map[string]any{"id": c.ID}, &dis)
	if dis.DismissAlert.ID != c.ID || dis.DismissAlert.DismissedAt == nil {
		t.Fatalf("dismissed = %+v", dis.DismissAlert)
	}
	f.user.mustDo(alertsQuery, nil, &list)
	if len(list.Me.Alerts) != 1 || list.Me.Alerts[0].ID != w.ID {
		t.Fatalf("after dismissing: %+v, want the wallet's only", list.Me.Alerts)
	}
	f.user.mustDo(alertsQuery, map[string]any{"all": true}, &list)
	if len(list.Me.Alerts) != 2 {
		t.Fatalf("with dismissed ones: %d, want 2", len(list.Me.Alerts))
	}

	// Off: an empty choice turns the connection's alerts off; null the wallet's.
	f.user.mustDo(updateConn, map[string]any{"in": map[string]any{"connectionId": f.connID, "percents": []int{}}}, &uc)
	f.user.mustDo(updateWallet, map[string]any{"in": map[string]any{"mode": "TEST", "below": nil}}, &uw)
	if len(uc.UpdateConnectionAlerts.Percents) != 0 || uc.UpdateConnectionAlerts.IsDefault || uw.UpdateWalletAlert.Below != nil {
		t.Fatalf("turned off: %+v, %+v", uc.UpdateConnectionAlerts, uw.UpdateWalletAlert)
	}
	h.exec(`UPDATE connection_periods SET captured = 10000000000 WHERE connection_id = $1 AND period = $2`, f.connID, period)
	h.exec(`SELECT wattfare_spend_crossed(ARRAY[$1::text], ARRAY[$2::date])`, f.connID, period)
	if n := h.count(`SELECT count(*) FROM alerts WHERE connection_id = $1`, f.connID); n != 1 {
		t.Fatalf("%d cap alerts after 100 %% with the alerts off, want still 1", n)
	}
}
