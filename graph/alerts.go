package graph

import (
	"context"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/graph/model"
)

// alertService is people's budget alerts' service, or one that says they
// are not available (a handler built without it).
func (r *Resolver) alertService() wattfare.AlertService {
	if r.alerts == nil {
		return noAlerts{}
	}
	return r.alerts
}

type noAlerts struct{}

func errNoAlerts() error { return wattfare.Errorf(wattfare.ECONFLICT, "alerts are not available here") }

func (noAlerts) Emails() bool { return false }
func (noAlerts) ConnectionAlerts(context.Context, string, wattfare.Mode) ([]wattfare.ConnectionAlerts, error) {
	return []wattfare.ConnectionAlerts{}, nil
}
func (noAlerts) UpdateConnectionAlerts(context.Context, string, string, []int) (wattfare.ConnectionAlerts, error) {
	return wattfare.ConnectionAlerts{}, errNoAlerts()
}
func (noAlerts) WalletAlert(_ context.Context, _ string, mode wattfare.Mode) (wattfare.WalletAlert, error) {
	return wattfare.WalletAlert{Mode: mode, Armed: true}, nil
}
func (noAlerts) UpdateWalletAlert(context.Context, string, wattfare.Mode, *wattfare.Money) (wattfare.WalletAlert, error) {
	return wattfare.WalletAlert{}, errNoAlerts()
}
func (noAlerts) Alerts(context.Context, string, wattfare.Mode, bool, int) ([]wattfare.Alert, error) {
	return []wattfare.Alert{}, nil
}
func (noAlerts) DismissAlert(context.Context, string, string) (wattfare.Alert, error) {
	return wattfare.Alert{}, errNoAlerts()
}

func connectionAlertsOut(c wattfare.ConnectionAlerts) *model.ConnectionAlertSettings {
	return &model.ConnectionAlertSettings{ConnectionID: c.ConnectionID, AppName: c.AppName, Status: c.Status,
		MonthlyCap: c.MonthlyCap, Percents: c.Percents, IsDefault: c.Default}
}

func walletAlertOut(w wattfare.WalletAlert) *model.WalletAlertSettings {
	return &model.WalletAlertSettings{Mode: w.Mode, Below: w.Below, Armed: w.Armed, Balance: w.Balance}
}

var alertEmailStatuses = map[wattfare.AlertEmailStatus]model.AlertEmailStatus{
	wattfare.AlertEmailPending:       model.AlertEmailStatusPending,
	wattfare.AlertEmailSent:          model.AlertEmailStatusSent,
	wattfare.AlertEmailFailed:        model.AlertEmailStatusFailed,
	wattfare.AlertEmailNotConfigured: model.AlertEmailStatusNotConfigured,
}

func alertOut(a wattfare.Alert) *model.BudgetAlert {
	out := &model.BudgetAlert{ID: a.ID, Mode: a.Mode, CreatedAt: a.CreatedAt, EmailStatus: alertEmailStatuses[a.EmailStatus],
		EmailedAt: a.EmailedAt, DismissedAt: a.DismissedAt}
	if a.Kind == wattfare.AlertWallet {
		out.Kind = model.BudgetAlertKindWallet
		out.Below, out.Balance = &a.Below, &a.Balance
		return out
	}
	out.Kind = model.BudgetAlertKindCap
	out.ConnectionID, out.AppName, out.Percent = &a.ConnectionID, &a.AppName, &a.Percent
	out.MonthlyCap, out.Spent = &a.MonthlyCap, &a.Spent
	return out
}
