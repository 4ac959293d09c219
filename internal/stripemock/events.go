package stripemock

import (
	"encoding/json"
	"time"

	stripego "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"
)

// Event is a Stripe webhook event as Stripe sends it: its data.object is
// the Checkout Session, PaymentIntent, Charge or Dispute the test builds.
type Event struct {
	ID      string
	Type    string
	Created time.Time // zero: now
	Object  map[string]any
}

// Body returns the event's JSON, in Stripe's envelope.
func (e Event) Body() []byte {
	created := e.Created
	if created.IsZero() {
		created = time.Now()
	}
	b, err := json.Marshal(map[string]any{
		"id": e.ID, "object": "event", "type": e.Type, "api_version": stripego.APIVersion,
		"created": created.Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": e.Object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Sign returns the body and its Stripe-Signature header for secret, signed
// at at (zero: now), with stripe-go's GenerateTestSignedPayload: the same
// scheme Stripe uses (t=…,v1=HMAC-SHA256 of "t.body").
func (e Event) Sign(secret string, at time.Time) (body []byte, header string) {
	if at.IsZero() {
		at = time.Now()
	}
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: e.Body(), Secret: secret, Timestamp: at})
	return p.Payload, p.Header
}

// CheckoutCompleted is checkout.session.completed for a paid session of
// the top-up, in USD cents.
func CheckoutCompleted(eventID, topUpID, sessionID, paymentIntentID string, cents int64) Event {
	return Event{ID: eventID, Type: "checkout.session.completed", Object: map[string]any{
		"id": sessionID, "object": "checkout.session", "mode": "payment", "client_reference_id": topUpID,
		"metadata": map[string]string{"wattfare_top_up": topUpID}, "payment_intent": paymentIntentID,
		"currency": "usd", "amount_total": cents, "payment_status": "paid", "status": "complete",
	}}
}

// ChargeRefunded is charge.refunded with Stripe's cumulative amount_refunded.
func ChargeRefunded(eventID, chargeID, paymentIntentID string, cents, refundedCents int64) Event {
	return Event{ID: eventID, Type: "charge.refunded", Object: map[string]any{
		"id": chargeID, "object": "charge", "payment_intent": paymentIntentID, "currency": "usd",
		"amount": cents, "amount_refunded": refundedCents, "refunded": refundedCents >= cents, "status": "succeeded",
		"receipt_url": "https://pay.stripe.com/receipts/" + chargeID,
	}}
}

// Dispute is a charge.dispute.* event of the given status.
func Dispute(eventID, typ, disputeID, chargeID, paymentIntentID string, cents int64, status string) Event {
	return Event{ID: eventID, Type: typ, Object: map[string]any{
		"id": disputeID, "object": "dispute", "charge": chargeID, "payment_intent": paymentIntentID,
		"amount": cents, "currency": "usd", "status": status, "reason": "fraudulent",
	}}
}
