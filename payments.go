package wattfare

import (
	"context"
	"time"
)

// Live money: an account funds its live wallet by card. Package stripe
// talks to Stripe (Checkout, customers, off-session charges, webhook
// signatures); package postgres keeps the top-ups and applies the verified
// events to the ledger.

// TopUpStatus is where a top-up's payment stands.
type TopUpStatus string

const (
	TopUpPending           TopUpStatus = "pending"
	TopUpSucceeded         TopUpStatus = "succeeded"
	TopUpFailed            TopUpStatus = "failed"
	TopUpRefunded          TopUpStatus = "refunded"
	TopUpPartiallyRefunded TopUpStatus = "partially_refunded"
	TopUpDisputed          TopUpStatus = "disputed"
)

// Top-up sources: the user paid at Checkout, or auto-recharge charged the
// card saved there.
const (
	TopUpCheckout     = "checkout"
	TopUpAutoRecharge = "auto_recharge"
)

// Ledger sources: every credit and debit of a wallet names one. Usage is
// what requests captured (the usage events themselves); the others are rows
// of the wallet ledger.
const (
	SourceTopUp      = "top_up"
	SourceRefund     = "refund"
	SourceDispute    = "dispute"
	SourceGrant      = "grant"
	SourceTestCredit = "test_credit"
	SourceUsage      = "usage"
)

// LimitWalletFrozen is the limit_source of the data plane's 402
// budget_exhausted while a dispute freezes the wallet. ReasonWalletFrozen
// is the ledger's refusal reason for it (LeaseGrant.Reason, PayerState.Reason).
const (
	LimitWalletFrozen  = "wallet_frozen"
	ReasonWalletFrozen = "wallet_frozen"
)

// TopUp is one payment into an account's live wallet.
type TopUp struct {
	ID          string
	AccountID   string
	Source      string // TopUpCheckout or TopUpAutoRecharge
	Amount      Money
	Status      TopUpStatus
	CheckoutURL string // where the user pays, while pending
	ReceiptURL  string // Stripe's receipt, once paid
	Refunded    Money
	Failure     string
	CreatedAt   time.Time
	CreditedAt  *time.Time
}

// AutoRecharge is an account's auto-recharge setting: when the live
// wallet's available balance falls under Threshold, the card saved at
// Checkout is charged Amount, once per crossing.
type AutoRecharge struct {
	Enabled bool
	// Threshold and Amount are what the user chose.
	Threshold Money
	Amount    Money
	// CardSaved says whether a card was saved at a Checkout (auto-recharge
	// can charge only then).
	CardSaved bool
	// DisabledReason says why auto-recharge turned itself off (a failed
	// charge), shown on the budget page until the user turns it on again.
	DisabledReason string
}

// PaymentEvent is a verified Stripe webhook event, reduced to what the
// ledger applies. Package stripe builds it from the signed body; amounts
// are converted from the currency's minor unit only for USD.
type PaymentEvent struct {
	ID      string    // evt_…
	Type    string    // e.g. checkout.session.completed
	Created time.Time // the event's own time
	// TopUpID is the top-up the event names (client_reference_id or
	// metadata.wattfare_top_up), "" when it names none.
	TopUpID            string
	CheckoutSessionID  string
	PaymentIntentID    string
	ChargeID           string
	CustomerID         string
	PaymentMethodID    string
	SavedForOffSession bool   // the PaymentIntent's setup_future_usage is off_session
	Currency           string // lower case ISO code
	Amount             Money  // amount_total, amount or the dispute's amount; in USD
	MinorAmount        int64  // the same in the currency's minor unit, for a non-USD report
	PaymentStatus      string // Checkout's payment_status: paid, unpaid, no_payment_required
	AmountRefunded     Money  // a charge's cumulative amount_refunded
	ReceiptURL         string
	DisputeID          string
	DisputeStatus      string
	FailureMessage     string
}

// Stripe webhook event types the ledger acts on. Any other verified event is
// recorded and answered 200 without changing anything.
const (
	EventCheckoutCompleted          = "checkout.session.completed"
	EventCheckoutAsyncSucceeded     = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed        = "checkout.session.async_payment_failed"
	EventCheckoutExpired            = "checkout.session.expired"
	EventPaymentIntentSucceeded     = "payment_intent.succeeded"
	EventPaymentIntentPaymentFailed = "payment_intent.payment_failed"
	EventChargeSucceeded            = "charge.succeeded"
	EventChargeRefunded             = "charge.refunded"
	EventDisputeCreated             = "charge.dispute.created"
	EventDisputeUpdated             = "charge.dispute.updated"
	EventDisputeClosed              = "charge.dispute.closed"
)

// PaymentOutcome is what applying an event did, as the webhook logs it.
type PaymentOutcome struct {
	Duplicate bool   // the event id was applied before: nothing changed
	Outcome   string // e.g. "credited 10.00", "ignored: unknown type"
	TopUpID   string
}

// CheckoutRequest is what a Checkout Session for a top-up needs.
type CheckoutRequest struct {
	TopUpID    string
	CustomerID string
	Amount     Money // whole cents, in USD
	SuccessURL string
	CancelURL  string
	// SaveCard asks Checkout to save the card for off-session charges
	// (setup_future_usage: off_session), which auto-recharge uses.
	SaveCard bool
}

// CheckoutSession is Stripe's answer: where the user pays.
type CheckoutSession struct {
	ID  string
	URL string
}

// OffSessionCharge is one auto-recharge charge of a saved card.
type OffSessionCharge struct {
	TopUpID         string
	CustomerID      string
	PaymentMethodID string
	Amount          Money
	// IdempotencyKey names the threshold crossing: Stripe answers every
	// retry of one crossing with the same PaymentIntent.
	IdempotencyKey string
}

// StripePayment is one succeeded charge as Stripe reports it, for the
// reconciliation.
type StripePayment struct {
	ChargeID        string
	PaymentIntentID string
	TopUpID         string // metadata.wattfare_top_up, "" when the charge has none
	Currency        string
	Amount          Money
	Refunded        Money
	Created         time.Time
}

// PaymentProvider is what Wattfare asks of Stripe. Package stripe
// implements it; every call is idempotent on the key it is given.
type PaymentProvider interface {
	// CreateCustomer creates the Stripe Customer of an account.
	CreateCustomer(ctx context.Context, accountID, email string) (string, error)
	// CreateCheckout creates a Checkout Session in payment mode.
	CreateCheckout(ctx context.Context, r CheckoutRequest) (CheckoutSession, error)
	// ChargeOffSession creates and confirms an off-session PaymentIntent
	// and returns its id. A declined card is an error.
	ChargeOffSession(ctx context.Context, c OffSessionCharge) (string, error)
	// Payments lists the succeeded charges created since since.
	Payments(ctx context.Context, since time.Time) ([]StripePayment, error)
}

// Reconciliation is the difference between the ledger and Stripe: each
// Line is a payment whose ledger net (credited less taken back) differs from
// Stripe's (paid less refunded), and Refused the verified events the ledger
// would not apply (a non-USD payment, an amount that is not the top-up's).
type Reconciliation struct {
	CheckedAt     time.Time
	Payments      int   // Stripe payments compared
	LedgerNet     Money // what the ledger credited for payments, less take-backs
	StripeNet     Money // what Stripe collected, less refunds
	Lines         []ReconciliationLine
	RefusedEvents []RefusedEvent
}

// ReconciliationLine is one payment on which the ledger and Stripe differ.
type ReconciliationLine struct {
	TopUpID   string
	ChargeID  string
	AccountID string
	Ledger    Money
	Stripe    Money
	Problem   string // e.g. "paid in Stripe, not credited", "credited, no Stripe payment"
}

// RefusedEvent is a verified event the ledger refused, for an admin.
type RefusedEvent struct {
	EventID    string
	Type       string
	TopUpID    string
	Outcome    string
	ReceivedAt time.Time
}

// EPAYMENTSNOTCONFIGURED is the control plane's answer to a top-up where
// Stripe is not configured (admin grants still work there).
const EPAYMENTSNOTCONFIGURED = "PAYMENTS_NOT_CONFIGURED"

// PaymentService is live money as the API offers it. Every method but
// Apply, Grant and Reconcile acts for the signed-in account named.
type PaymentService interface {
	// Configured reports whether top-ups can be taken here.
	Configured() bool
	// TopUpBounds returns the least and most one top-up may be.
	TopUpBounds() (Money, Money)
	// StartTopUp creates a pending top-up and the Checkout Session where
	// the user pays it. The wallet is credited by the payment's verified
	// webhook event, never by the browser's return.
	//
	// Returns EINVALID (field amount) out of bounds or not whole cents,
	// EPAYMENTSNOTCONFIGURED, ERateLimited, EUnavailable when Stripe fails.
	StartTopUp(ctx context.Context, accountID string, amount Money) (TopUp, error)
	// TopUps returns a page of the account's top-ups, newest first.
	TopUps(ctx context.Context, accountID string, p Page) (Paged[TopUp], error)
	// TopUp returns one of the account's top-ups, or ENOTFOUND.
	TopUp(ctx context.Context, accountID, id string) (TopUp, error)
	// Apply applies one verified webhook event to the ledger, once.
	Apply(ctx context.Context, ev PaymentEvent) (PaymentOutcome, error)
	// Grant credits an account's live wallet (an admin's support credit
	// or promotion), audited with actorID and reason.
	//
	// Returns EINVALID (amount, reason), ENOTFOUND.
	Grant(ctx context.Context, actorID, accountID string, amount Money, reason string) (Wallet, error)
	// AutoRecharge returns the account's auto-recharge setting.
	AutoRecharge(ctx context.Context, accountID string) (AutoRecharge, error)
	// SetAutoRecharge turns auto-recharge on (with a threshold and an
	// amount) or off.
	//
	// Returns EINVALID (threshold, amount), EPAYMENTSNOTCONFIGURED.
	SetAutoRecharge(ctx context.Context, accountID string, enabled bool, threshold, amount Money) (AutoRecharge, error)
	// Reconcile compares the ledger with Stripe's succeeded payments since
	// since.
	Reconcile(ctx context.Context, since time.Time) (Reconciliation, error)
	LedgerExporter
}

// LedgerLine is one line of a wallet's ledger export: a credit or debit
// of the wallet ledger, or a request's charge (source usage, negative).
type LedgerLine struct {
	At          time.Time
	Source      string
	Description string
	Amount      Money  // positive credits, negative debits and charges
	Ref         string // the top-up, or the request id
	App         string // for usage: the app's name
	Model       string // for usage
}

// LedgerExporter streams a wallet's whole ledger, oldest first, credits,
// debits and charges together (the budget page's CSV export). Package
// postgres implements it.
type LedgerExporter interface {
	ExportLedger(ctx context.Context, accountID string, mode Mode, each func(LedgerLine) error) error
}

// AutoRechargeCharge is the durable job of one auto-recharge charge: the
// off-session PaymentIntent of a top-up made when a wallet crossed its
// threshold. IdempotencyKey names the crossing, so a retried job (or a
// second process working it) makes one charge at Stripe.
type AutoRechargeCharge struct {
	TopUpID        string `json:"top_up_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Kind names the job.
func (AutoRechargeCharge) Kind() string { return "payments.auto_recharge_charge" }

// AutoRechargeScan is the periodic job that finds wallets under their
// auto-recharge threshold and starts one charge per crossing.
type AutoRechargeScan struct{}

// Kind names the job.
func (AutoRechargeScan) Kind() string { return "payments.auto_recharge_scan" }
