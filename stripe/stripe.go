// Package stripe is Wattfare's side of Stripe: Customers, Checkout Sessions
// for top-ups, off-session charges for auto-recharge, the list of succeeded
// charges the reconciliation compares with the ledger, and the verification
// of signed webhook events (webhook.go). It implements
// wattfare.PaymentProvider on stripe-go; nothing else in Wattfare imports
// stripe-go.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/wattfare/wattfare"
)

// MetadataTopUp is the metadata key, on Checkout Sessions and
// PaymentIntents, that names the top-up a payment pays for.
const MetadataTopUp = "wattfare_top_up"

// Config is how to reach Stripe. The secret key is never logged: Client
// keeps it only inside stripe-go's backend, and String redacts it.
type Config struct {
	SecretKey string // sk_live_… / sk_test_… / rk_…
	// APIURL replaces https://api.stripe.com (stripe-mock in tests).
	APIURL     string
	HTTPClient *http.Client
	// ProductName is what Checkout shows on the line item.
	ProductName string
}

// String keeps the key out of any %v of a Config.
func (c Config) String() string {
	return fmt.Sprintf("stripe.Config{SecretKey: %s, APIURL: %q}", redact(c.SecretKey), c.APIURL)
}

func redact(key string) string {
	if key == "" {
		return "(none)"
	}
	return "(set)"
}

// Client implements wattfare.PaymentProvider.
type Client struct {
	sc      *stripego.Client
	product string
}

var _ wattfare.PaymentProvider = (*Client)(nil)

// New returns a Client. stripe-go's own logger is silenced: it would print
// request URLs and error bodies at its default level; our callers log what
// matters without the key.
func New(cfg Config) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: no secret key")
	}
	bc := &stripego.BackendConfig{
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
		MaxNetworkRetries: stripego.Int64(2),
		HTTPClient:        cfg.HTTPClient,
	}
	if bc.HTTPClient == nil {
		bc.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.APIURL != "" {
		bc.URL = stripego.String(strings.TrimRight(cfg.APIURL, "/"))
	}
	product := cfg.ProductName
	if product == "" {
		product = "Wattfare AI budget credit"
	}
	return &Client{
		sc:      stripego.NewClient(cfg.SecretKey, stripego.WithBackends(stripego.NewBackendsWithConfig(bc))),
		product: product,
	}, nil
}

// cents converts a whole-cent amount to Stripe's minor unit.
func cents(m wattfare.Money) (int64, error) {
	if m <= 0 || m%wattfare.Cent != 0 {
		return 0, fmt.Errorf("stripe: %s is not a positive whole number of cents", m)
	}
	return int64(m / wattfare.Cent), nil
}

// CreateCustomer creates the account's Customer. The idempotency key is
// the account's, so two first top-ups at once make one Customer.
func (c *Client) CreateCustomer(ctx context.Context, accountID, email string) (string, error) {
	p := &stripego.CustomerCreateParams{Metadata: map[string]string{"wattfare_account": accountID}}
	if email != "" {
		p.Email = stripego.String(email)
	}
	p.SetIdempotencyKey("wattfare-customer-" + accountID)
	cu, err := c.sc.V1Customers.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("create customer: %w", stripeError(err))
	}
	return cu.ID, nil
}

// CreateCheckout creates a Checkout Session in payment mode for one
// top-up: the top-up's id is the client_reference_id and the metadata of
// the session and of its PaymentIntent, so every event of the payment
// names it.
func (c *Client) CreateCheckout(ctx context.Context, r wattfare.CheckoutRequest) (wattfare.CheckoutSession, error) {
	n, err := cents(r.Amount)
	if err != nil {
		return wattfare.CheckoutSession{}, err
	}
	pi := &stripego.CheckoutSessionCreatePaymentIntentDataParams{
		Metadata:    map[string]string{MetadataTopUp: r.TopUpID},
		Description: stripego.String(c.product),
	}
	if r.SaveCard {
		pi.SetupFutureUsage = stripego.String("off_session")
	}
	p := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		Customer:          stripego.String(r.CustomerID),
		ClientReferenceID: stripego.String(r.TopUpID),
		Metadata:          map[string]string{MetadataTopUp: r.TopUpID},
		SuccessURL:        stripego.String(r.SuccessURL),
		CancelURL:         stripego.String(r.CancelURL),
		PaymentIntentData: pi,
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			Quantity: stripego.Int64(1),
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String("usd"),
				UnitAmount:  stripego.Int64(n),
				ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String(c.product)},
			},
		}},
	}
	p.SetIdempotencyKey("wattfare-checkout-" + r.TopUpID)
	s, err := c.sc.V1CheckoutSessions.Create(ctx, p)
	if err != nil {
		return wattfare.CheckoutSession{}, fmt.Errorf("create checkout session: %w", stripeError(err))
	}
	return wattfare.CheckoutSession{ID: s.ID, URL: s.URL}, nil
}

// ChargeOffSession creates and confirms an off-session PaymentIntent on the
// saved card. Its webhook (payment_intent.succeeded) credits the wallet.
func (c *Client) ChargeOffSession(ctx context.Context, o wattfare.OffSessionCharge) (string, error) {
	n, err := cents(o.Amount)
	if err != nil {
		return "", err
	}
	p := &stripego.PaymentIntentCreateParams{
		Amount:        stripego.Int64(n),
		Currency:      stripego.String("usd"),
		Customer:      stripego.String(o.CustomerID),
		PaymentMethod: stripego.String(o.PaymentMethodID),
		OffSession:    stripego.Bool(true),
		Confirm:       stripego.Bool(true),
		Description:   stripego.String(c.product + " (auto-recharge)"),
		Metadata:      map[string]string{MetadataTopUp: o.TopUpID},
	}
	p.SetIdempotencyKey(o.IdempotencyKey)
	pi, err := c.sc.V1PaymentIntents.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("charge saved card: %w", stripeError(err))
	}
	return pi.ID, nil
}

// Payments lists the succeeded charges created since since, with the
// top-up each names (its PaymentIntent's metadata, else its own).
func (c *Client) Payments(ctx context.Context, since time.Time) ([]wattfare.StripePayment, error) {
	p := &stripego.ChargeListParams{CreatedRange: &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()}}
	p.AddExpand("data.payment_intent")
	var out []wattfare.StripePayment
	for ch, err := range c.sc.V1Charges.List(ctx, p) {
		if err != nil {
			return nil, fmt.Errorf("list charges: %w", stripeError(err))
		}
		if ch.Status != stripego.ChargeStatusSucceeded {
			continue
		}
		sp := wattfare.StripePayment{ChargeID: ch.ID, Currency: string(ch.Currency), Created: time.Unix(ch.Created, 0).UTC(),
			TopUpID: ch.Metadata[MetadataTopUp]}
		if ch.PaymentIntent != nil {
			sp.PaymentIntentID = ch.PaymentIntent.ID
			if id := ch.PaymentIntent.Metadata[MetadataTopUp]; id != "" {
				sp.TopUpID = id
			}
		}
		if sp.Currency == "usd" {
			sp.Amount = wattfare.Money(ch.Amount) * wattfare.Cent
			sp.Refunded = wattfare.Money(ch.AmountRefunded) * wattfare.Cent
		}
		out = append(out, sp)
	}
	return out, nil
}

// ErrCardDeclined marks a ChargeOffSession refused by the card (declined,
// or it needs the customer to authenticate): retrying cannot help.
var ErrCardDeclined = errors.New("the saved card was declined")

// stripeError keeps Stripe's code and message (never the request) and
// marks card errors. A message may quote the key it was called with (an
// authentication error echoes the Authorization header): keys are
// redacted from it, as from any other error, before anyone logs it.
func stripeError(err error) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		msg := Redact(se.Msg)
		if se.Type == stripego.ErrorTypeCard || se.Code == stripego.ErrorCodeAuthenticationRequired {
			return fmt.Errorf("%w: %s (%s)", ErrCardDeclined, msg, se.Code)
		}
		return fmt.Errorf("stripe %s %s: %s", se.Type, se.Code, msg)
	}
	return errors.New(Redact(err.Error()))
}

var keyPattern = regexp.MustCompile(`\b(sk|rk|whsec)_([A-Za-z0-9]*_)?[A-Za-z0-9]+`)

// Redact replaces every Stripe secret key, restricted key or webhook
// secret in s with its prefix and an ellipsis.
func Redact(s string) string {
	return keyPattern.ReplaceAllStringFunc(s, func(k string) string {
		if i := strings.LastIndexByte(k, '_'); i >= 0 {
			return k[:i+1] + "…"
		}
		return "…"
	})
}
