package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/wattfare/wattfare"
)

// Tolerance is how old a signed event may be: Stripe's own default, five
// minutes, which bounds a replay of a captured delivery.
const Tolerance = 5 * time.Minute

// MaxEventBytes bounds a webhook body. Stripe's events are a few KB; a
// Checkout Session with its line items stays far under this.
const MaxEventBytes = 256 << 10

// ErrSignature marks a body whose Stripe-Signature does not verify (wrong
// secret, altered body, no v1 signature, or a timestamp outside Tolerance).
var ErrSignature = errors.New("stripe: webhook signature does not verify")

// Verifier checks Stripe-Signature with the endpoint's signing secret and
// turns the event into a wattfare.PaymentEvent.
type Verifier struct {
	secret string
}

// NewVerifier returns a Verifier for the endpoint secret (whsec_…).
func NewVerifier(secret string) (*Verifier, error) {
	if secret == "" {
		return nil, errors.New("stripe: no webhook secret")
	}
	return &Verifier{secret: secret}, nil
}

// Verify checks the signature over the raw body, and only then parses it.
// The event's API version may differ from stripe-go's: only the fields read
// below are used, and they are stable across versions.
func (v *Verifier) Verify(body []byte, signature string) (wattfare.PaymentEvent, error) {
	ev, err := webhook.ConstructEventWithOptions(body, signature, v.secret, webhook.ConstructEventOptions{
		Tolerance: Tolerance, IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		return wattfare.PaymentEvent{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return Parse(ev.ID, string(ev.Type), ev.Created, ev.Data.Raw)
}

// ref is a field that is an id or an expanded object with one.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*r = ref(o.ID)
	return nil
}

// object is the union of the fields of the objects the ledger reads: a
// Checkout Session, a PaymentIntent, a Charge or a Dispute.
type object struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	PaymentIntent     ref               `json:"payment_intent"`
	Charge            ref               `json:"charge"`
	Customer          ref               `json:"customer"`
	PaymentMethod     ref               `json:"payment_method"`
	Currency          string            `json:"currency"`
	AmountTotal       *int64            `json:"amount_total"`
	Amount            *int64            `json:"amount"`
	AmountRefunded    int64             `json:"amount_refunded"`
	PaymentStatus     string            `json:"payment_status"`
	SetupFutureUsage  string            `json:"setup_future_usage"`
	ReceiptURL        string            `json:"receipt_url"`
	Status            string            `json:"status"`
	LastPaymentError  *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"last_payment_error"`
	FailureMessage string `json:"failure_message"`
}

// Parse reduces a verified event's data.object to a PaymentEvent.
func Parse(id, typ string, created int64, raw json.RawMessage) (wattfare.PaymentEvent, error) {
	pe := wattfare.PaymentEvent{ID: id, Type: typ, Created: time.Unix(created, 0).UTC()}
	if id == "" || typ == "" {
		return pe, fmt.Errorf("stripe: event without id or type")
	}
	var o object
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &o); err != nil {
			return pe, fmt.Errorf("stripe: event %s: data.object: %w", id, err)
		}
	}
	pe.TopUpID = o.Metadata[MetadataTopUp]
	pe.Currency = strings.ToLower(o.Currency)
	pe.CustomerID = string(o.Customer)
	pe.PaymentMethodID = string(o.PaymentMethod)
	pe.ReceiptURL = o.ReceiptURL
	var minor int64
	switch o.Object {
	case "checkout.session":
		pe.CheckoutSessionID = o.ID
		if pe.TopUpID == "" {
			pe.TopUpID = o.ClientReferenceID
		}
		pe.PaymentIntentID = string(o.PaymentIntent)
		pe.PaymentStatus = o.PaymentStatus
		if o.AmountTotal != nil {
			minor = *o.AmountTotal
		}
	case "payment_intent":
		pe.PaymentIntentID = o.ID
		pe.SavedForOffSession = o.SetupFutureUsage == "off_session"
		if o.Amount != nil {
			minor = *o.Amount
		}
		if o.LastPaymentError != nil {
			pe.FailureMessage = o.LastPaymentError.Message
		}
	case "charge":
		pe.ChargeID = o.ID
		pe.PaymentIntentID = string(o.PaymentIntent)
		if o.Amount != nil {
			minor = *o.Amount
		}
		pe.FailureMessage = o.FailureMessage
	case "dispute":
		pe.DisputeID = o.ID
		pe.DisputeStatus = o.Status
		pe.ChargeID = string(o.Charge)
		pe.PaymentIntentID = string(o.PaymentIntent)
		if o.Amount != nil {
			minor = *o.Amount
		}
	}
	pe.MinorAmount = minor
	if pe.Currency == "usd" {
		pe.Amount = wattfare.Money(minor) * wattfare.Cent
		pe.AmountRefunded = wattfare.Money(o.AmountRefunded) * wattfare.Cent
	}
	return pe, nil
}
