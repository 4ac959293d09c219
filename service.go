package wattfare

// Services are the domain services the control plane serves, as one value
// for wiring: cmd/wattfare builds them (package postgres implements every
// one) and hands them to the adapters that serve them. Each is a small
// interface of its own, whose methods document who may call them and which
// error codes they return; adapters depend on those, never on an
// implementation.
type Services struct {
	Accounts    AccountService
	Sessions    SessionService
	Apps        AppService
	Keys        KeyService
	Connections ConnectionService
	Wallets     WalletService
	Usage       UsageService
	Models      ModelService
	Consent     ConsentService
	Payments    PaymentService
	// Backstop is nil unless OpenRouter key management is configured.
	Backstop BackstopService
	// Webhooks manages apps' webhook endpoints.
	Webhooks WebhookService
	// Alerts are people's budget alert choices and the alerts fired.
	Alerts AlertService
}
