package wattfareapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// Webhooks: Wattfare POSTs events to an app's endpoints, signed like
// Stripe's: Wattfare-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>, with two v1 while a rolled secret overlaps. Verify the
// raw body before parsing it:
//
//	wh := wattfareapp.NewWebhooks(os.Getenv("WATTFARE_WEBHOOK_SECRET"))
//	http.HandleFunc("POST /webhooks/wattfare", func(w http.ResponseWriter, r *http.Request) {
//		ev, err := wh.VerifyRequest(r)
//		if err != nil {
//			http.Error(w, "bad signature", http.StatusBadRequest)
//			return
//		}
//		switch ev.Type {
//		case wattfare.EventConnectionRevoked:
//			forget(ev.Connection.AppUserID)
//		}
//		w.WriteHeader(http.StatusNoContent)
//	})

// SignatureHeader is the header that carries an event's signature.
const SignatureHeader = "Wattfare-Signature"

// DefaultTolerance is how far an event's signed time may be from now.
const DefaultTolerance = 5 * time.Minute

// MaxWebhookBody bounds the body VerifyRequest reads.
const MaxWebhookBody = 1 << 20

// WebhookError is returned for a body that is not a genuine, fresh event;
// Reason says which check failed.
type WebhookError struct {
	Reason string // "missing_header", "bad_header", "too_old", "no_match", "bad_body"
	Detail string
}

func (e *WebhookError) Error() string { return "wattfare webhook: " + e.Reason + ": " + e.Detail }

// ErrWebhookSignature matches every *WebhookError with errors.Is.
var ErrWebhookSignature = errors.New("wattfare webhook: signature verification failed")

func (e *WebhookError) Is(target error) bool { return target == ErrWebhookSignature }

// Event is one webhook event. Type says which of the typed fields is set:
// Connection for connection.*, App for app.*, Key for key.revoked. Data is
// the raw object for anything else.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created int64           `json:"created"` // Unix seconds
	Mode    wattfare.Mode   `json:"mode"`
	Data    json.RawMessage `json:"data"`

	Connection *EventConnection `json:"-"`
	// PreviousMonthlyCap is set for connection.cap_changed.
	PreviousMonthlyCap *wattfare.Money `json:"-"`
	// ThresholdPercent is set for connection.cap_warning (80).
	ThresholdPercent int       `json:"-"`
	App              *EventApp `json:"-"`
	Key              *EventKey `json:"-"`
}

// EventConnection is a connection as an event reports it.
type EventConnection struct {
	ID              string         `json:"id"`
	AppID           string         `json:"app_id"`
	AppUserID       string         `json:"app_user_id"`
	Mode            wattfare.Mode  `json:"mode"`
	Status          string         `json:"status"`
	MonthlyCap      wattfare.Money `json:"monthly_cap"`
	SpentThisPeriod wattfare.Money `json:"spent_this_period"`
	PeriodStart     string         `json:"period_start"` // YYYY-MM-DD, UTC
}

// EventApp is an app as app.suspended and app.unsuspended report it.
type EventApp struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Suspended       bool       `json:"suspended"`
	SuspendedAt     *time.Time `json:"suspended_at"`
	SuspendedReason *string    `json:"suspended_reason"`
}

// EventKey is a secret key as key.revoked reports it (never the secret).
type EventKey struct {
	ID        string        `json:"id"`
	Mode      wattfare.Mode `json:"mode"`
	Hint      string        `json:"hint"`
	CreatedAt time.Time     `json:"created_at"`
	RevokedAt *time.Time    `json:"revoked_at"`
}

// Webhooks verifies events with an endpoint's signing secret(s).
type Webhooks struct {
	secrets   []string
	Tolerance time.Duration    // DefaultTolerance when zero
	Now       func() time.Time // time.Now when nil
}

// NewWebhooks verifies with secret (and, while you switch after a roll,
// more secrets: any one matching passes).
func NewWebhooks(secret string, more ...string) *Webhooks {
	return &Webhooks{secrets: append([]string{secret}, more...)}
}

// Verify checks header (Wattfare-Signature) against the raw body and
// returns the event.
func (w *Webhooks) Verify(body []byte, header string) (*Event, error) {
	if header == "" {
		return nil, &WebhookError{"missing_header", "no " + SignatureHeader + " header"}
	}
	var ts int64 = -1
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, &WebhookError{"bad_header", "t is not a Unix time"}
			}
			ts = n
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return nil, &WebhookError{"bad_header", "want t=<unix>,v1=<hex>"}
	}
	tol := w.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return nil, &WebhookError{"too_old", fmt.Sprintf("signed %s from now, over the %s tolerance", d.Round(time.Second), tol)}
	}
	matched := false
	prefix := strconv.FormatInt(ts, 10) + "."
	for _, s := range w.secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(prefix))
		m.Write(body)
		want := m.Sum(nil)
		for _, got := range sigs {
			if hmac.Equal(got, want) { // constant time
				matched = true
			}
		}
	}
	if !matched {
		return nil, &WebhookError{"no_match", "no v1 signature matches the secret"}
	}
	return parseEvent(body)
}

// VerifyRequest reads r's body (at most MaxWebhookBody) and verifies it.
func (w *Webhooks) VerifyRequest(r *http.Request) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, &WebhookError{"bad_body", err.Error()}
	}
	if len(body) > MaxWebhookBody {
		return nil, &WebhookError{"bad_body", "body over 1 MiB"}
	}
	return w.Verify(body, r.Header.Get(SignatureHeader))
}

func parseEvent(body []byte) (*Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, &WebhookError{"bad_body", err.Error()}
	}
	var d struct {
		Connection         *EventConnection `json:"connection"`
		PreviousMonthlyCap *wattfare.Money  `json:"previous_monthly_cap"`
		ThresholdPercent   int              `json:"threshold_percent"`
		App                *EventApp        `json:"app"`
		Key                *EventKey        `json:"key"`
	}
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, &WebhookError{"bad_body", "data: " + err.Error()}
		}
	}
	ev.Connection, ev.PreviousMonthlyCap, ev.ThresholdPercent, ev.App, ev.Key = d.Connection, d.PreviousMonthlyCap, d.ThresholdPercent, d.App, d.Key
	return &ev, nil
}
