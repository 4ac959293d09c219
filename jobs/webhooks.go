package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/keyring"
)

// Webhooks to apps (issue 15). An event is a row of the outbox
// (webhook_events) written in the transaction of the change it reports.
// Two kinds of job carry it to the app:
//
//   - WebhookDispatch fans events out: one delivery row and one
//     WebhookDeliver job per endpoint that subscribes, in one transaction
//     that marks the event dispatched. The change's transaction inserts it
//     for its own event; a periodic one (every DispatchEvery) picks up what
//     the ledger's SQL wrote (cap reached, cap warning) and anything a
//     crash left undispatched.
//   - WebhookDeliver POSTs one delivery, signed, and retries it with
//     exponential backoff for up to MaxAge (3 days). Deliveries of one
//     endpoint go out in the order of their events' creation: a delivery
//     waits while an earlier one of its endpoint is still open. A delivery
//     that fails for the whole window disables its endpoint.

// WebhookDispatch fans out one event (EventID), or every undispatched one
// ("").
type WebhookDispatch struct {
	EventID string `json:"event_id,omitempty"`
}

func (WebhookDispatch) Kind() string { return "webhook.dispatch" }

// WebhookDeliver delivers one delivery row.
type WebhookDeliver struct {
	DeliveryID string `json:"delivery_id"`
}

func (WebhookDeliver) Kind() string { return "webhook.deliver" }

// WebhookTarget is what one delivery needs: its event and its endpoint, as
// committed.
type WebhookTarget struct {
	DeliveryID string
	Status     wattfare.WebhookDeliveryStatus
	Attempts   int
	FirstTry   *time.Time

	EndpointID      string
	AppID           string
	URL             string
	Mode            wattfare.Mode
	EndpointOn      bool // enabled and not deleted
	Secret          []byte
	PreviousSecret  []byte // sealed; nil unless a roll's overlap is running
	PreviousExpires *time.Time

	EventID      string
	EventType    string
	EventCreated time.Time
	EventData    json.RawMessage
}

// WebhookAttempt is the outcome of one attempt, for the store to record.
type WebhookAttempt struct {
	DeliveryID   string
	At           time.Time
	ResponseCode int    // 0: no response
	Error        string // "" on success
	OK           bool
	// Next is when the next attempt is due; zero when this was the last.
	Next time.Time
	// GiveUp: the last attempt failed; the endpoint is disabled with
	// DisableReason and its other open deliveries skipped.
	GiveUp        bool
	DisableReason string
}

// WebhookStore is the webhooks' Postgres side (postgres.Webhooks).
type WebhookStore interface {
	// Dispatch fans out eventID (or up to a batch of undispatched events
	// when ""), inserting each delivery's WebhookDeliver job with q in the
	// same transaction. It returns how many events it dispatched.
	Dispatch(ctx context.Context, eventID string, q Queue) (int, error)
	// Target reads a delivery with its event and endpoint.
	Target(ctx context.Context, deliveryID string) (WebhookTarget, error)
	// Blocker returns an open delivery of the same endpoint whose event is
	// older (ordering), with when its next attempt is due; ok false when
	// there is none.
	Blocker(ctx context.Context, t WebhookTarget) (nextAttempt time.Time, ok bool, err error)
	// Skip marks a delivery skipped: its endpoint is disabled or deleted.
	Skip(ctx context.Context, deliveryID string) error
	// Record saves an attempt's outcome.
	Record(ctx context.Context, a WebhookAttempt) error
}

// WebhookOutcomes counts attempts by outcome for the metrics
// (wattfare_webhook_deliveries_total{outcome}).
type WebhookOutcomes struct {
	OK       atomic.Uint64 // answered 2xx
	Failed   atomic.Uint64 // failed, retried later
	GaveUp   atomic.Uint64 // failed for the last time: the endpoint was disabled
	Disabled atomic.Uint64 // not sent: the endpoint was disabled or deleted
}

// Webhooks works the webhook jobs.
type Webhooks struct {
	Store WebhookStore
	// Ring opens the endpoints' signing secrets (WATTFARE_ENCRYPTION_KEY).
	Ring *keyring.Keyring
	// RetryBase is the wait after a first failed attempt (default 1
	// minute), doubled each attempt (capped at 12 hours).
	RetryBase time.Duration
	// MaxAge is how long a delivery is retried, from its first attempt
	// (default 3 days); MaxAttempts, when set, stops it sooner.
	MaxAge      time.Duration
	MaxAttempts int
	// DispatchEvery is how often undispatched events are swept (default 5 s).
	DispatchEvery time.Duration
	// OrderWait is the longest a delivery waits, between looks, for an
	// earlier one of its endpoint (default 1 minute).
	OrderWait time.Duration
	Outcomes  WebhookOutcomes
	Logger    *slog.Logger
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Register adds the webhook workers and the periodic sweep.
func (w *Webhooks) Register(r *Registry) {
	Add(r, &dispatchWorker{w: w})
	Add(r, &deliverWorker{w: w})
	every := w.DispatchEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	r.Periodic(river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return WebhookDispatch{}, nil },
		&river.PeriodicJobOpts{ID: "webhook.dispatch", RunOnStart: true}))
}

func (w *Webhooks) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Webhooks) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

type dispatchWorker struct {
	river.WorkerDefaults[WebhookDispatch]
	w *Webhooks
}

func (d *dispatchWorker) Work(ctx context.Context, j *river.Job[WebhookDispatch]) error {
	q := river.ClientFromContext[pgx.Tx](ctx)
	for {
		n, err := d.w.Store.Dispatch(ctx, j.Args.EventID, q)
		if err != nil {
			return fmt.Errorf("dispatch webhook events: %w", err)
		}
		if j.Args.EventID != "" || n == 0 {
			return nil
		}
	}
}

type deliverWorker struct {
	river.WorkerDefaults[WebhookDeliver]
	w *Webhooks
}

// Timeout bounds one attempt: the request's own 10 s and the bookkeeping.
func (d *deliverWorker) Timeout(*river.Job[WebhookDeliver]) time.Duration { return 30 * time.Second }

func (w *Webhooks) backoff(attempt int) time.Duration {
	base := w.RetryBase
	if base <= 0 {
		base = time.Minute
	}
	d := base << min(max(attempt-1, 0), 20)
	return min(d, 12*time.Hour)
}

func (w *Webhooks) maxAge() time.Duration {
	if w.MaxAge > 0 {
		return w.MaxAge
	}
	return 72 * time.Hour
}

func (d *deliverWorker) Work(ctx context.Context, j *river.Job[WebhookDeliver]) error {
	w := d.w
	t, err := w.Store.Target(ctx, j.Args.DeliveryID)
	if err != nil {
		return fmt.Errorf("read delivery: %w", err)
	}
	switch t.Status {
	case wattfare.DeliverySucceeded, wattfare.DeliveryFailed, wattfare.DeliverySkipped:
		return nil // a job run again after its outcome was saved
	}
	if !t.EndpointOn {
		w.Outcomes.Disabled.Add(1)
		return w.Store.Skip(ctx, t.DeliveryID)
	}
	// Events reach an endpoint in the order they were created: wait while
	// an earlier delivery of it is open (until its next attempt, at most
	// OrderWait, at least 50 ms).
	if next, blocked, err := w.Store.Blocker(ctx, t); err != nil {
		return fmt.Errorf("order deliveries: %w", err)
	} else if blocked {
		wait := time.Until(next) + 50*time.Millisecond
		maxWait := w.OrderWait
		if maxWait <= 0 {
			maxWait = time.Minute
		}
		return river.JobSnooze(min(max(wait, 50*time.Millisecond), maxWait))
	}

	now := w.now()
	code, sendErr := w.send(ctx, t, now)
	a := WebhookAttempt{DeliveryID: t.DeliveryID, At: now, ResponseCode: code, OK: sendErr == nil}
	if sendErr == nil {
		w.Outcomes.OK.Add(1)
		return w.Store.Record(ctx, a)
	}
	a.Error = sendErr.Error()
	first := now
	if t.FirstTry != nil {
		first = *t.FirstTry
	}
	attempts := t.Attempts + 1
	next := now.Add(w.backoff(attempts))
	if next.Sub(first) > w.maxAge() || (w.MaxAttempts > 0 && attempts >= w.MaxAttempts) {
		a.GiveUp = true
		a.DisableReason = fmt.Sprintf("disabled by Wattfare on %s: every attempt to deliver event %s failed for %s (%d attempts; last: %s)",
			now.UTC().Format(time.RFC3339), t.EventID, now.Sub(first).Round(time.Second), attempts, a.Error)
		w.Outcomes.GaveUp.Add(1)
		if err := w.Store.Record(ctx, a); err != nil {
			return err
		}
		w.log().Warn("webhook endpoint disabled after failing deliveries", "endpoint_id", t.EndpointID, "event_id", t.EventID, "attempts", attempts)
		return river.JobCancel(sendErr)
	}
	a.Next = next
	w.Outcomes.Failed.Add(1)
	if err := w.Store.Record(ctx, a); err != nil {
		return err
	}
	// The delivery's own backoff, counted in its row: the job sleeps until
	// the next attempt (an error return is left to failures of Wattfare's
	// own, such as Postgres, which river retries on its schedule).
	w.log().Info("webhook delivery failed; retrying", "endpoint_id", t.EndpointID, "event_id", t.EventID, "attempt", attempts, "err", sendErr, "next", next)
	return river.JobSnooze(max(next.Sub(w.now()), time.Millisecond))
}

// WebhookBody is the JSON an endpoint receives: the event as
// {id, type, created, mode, data}, created in Unix seconds as Stripe has
// it. It is the same bytes on every attempt.
func WebhookBody(eventID, typ string, created time.Time, mode wattfare.Mode, data json.RawMessage) ([]byte, error) {
	return json.Marshal(struct {
		ID      string          `json:"id"`
		Object  string          `json:"object"`
		Type    string          `json:"type"`
		Created int64           `json:"created"`
		Mode    wattfare.Mode   `json:"mode"`
		Data    json.RawMessage `json:"data"`
	}{eventID, "event", typ, created.Unix(), mode, data})
}

// SignWebhook returns the Wattfare-Signature header for body at t: one v1
// signature per secret, t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>.
func SignWebhook(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}

// MaxWebhookResponse bounds what is read of an endpoint's answer (and then
// dropped): enough to reuse the connection, never stored.
const MaxWebhookResponse = 64 << 10

// WebhookTimeout bounds one attempt's whole exchange.
const WebhookTimeout = 10 * time.Second

func (w *Webhooks) send(ctx context.Context, t WebhookTarget, now time.Time) (int, error) {
	secrets, err := w.secrets(t, now)
	if err != nil {
		return 0, err
	}
	body, err := WebhookBody(t.EventID, t.EventType, t.EventCreated, t.Mode, t.EventData)
	if err != nil {
		return 0, fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("bad endpoint URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Wattfare-Webhooks/1")
	req.Header.Set("Wattfare-Signature", SignWebhook(now, body, secrets...))
	req.Header.Set("Wattfare-Event-Id", t.EventID)
	resp, err := WebhookClient(t.Mode).Do(req)
	if err != nil {
		return 0, attemptError(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxWebhookResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func (w *Webhooks) secrets(t WebhookTarget, now time.Time) ([]string, error) {
	if w.Ring == nil {
		return nil, errors.New("WATTFARE_ENCRYPTION_KEY is not set: the signing secret cannot be opened")
	}
	cur, err := w.Ring.Open(t.Secret, []byte(t.EndpointID))
	if err != nil {
		return nil, fmt.Errorf("open signing secret: %w", err)
	}
	out := []string{string(cur)}
	if t.PreviousSecret != nil && t.PreviousExpires != nil && now.Before(*t.PreviousExpires) {
		prev, err := w.Ring.Open(t.PreviousSecret, []byte(t.EndpointID))
		if err != nil {
			return nil, fmt.Errorf("open previous signing secret: %w", err)
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// attemptError is what the delivery log shows of a failed exchange: short,
// without the URL (already shown beside it).
func attemptError(err error) error {
	var ae *AddressError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return fmt.Errorf("no answer within %s", WebhookTimeout)
	}
	if errors.Is(err, errRedirect) {
		return errRedirect
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// AddressError refuses a connection to an address the endpoint's mode may
// not reach (wattfare.WebhookAddressAllowed).
type AddressError struct {
	Mode wattfare.Mode
	Addr string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("refused to connect to %s: not a public address (%s mode)", e.Addr, e.Mode)
}

var errRedirect = errors.New("the endpoint answered with a redirect, which webhooks do not follow")

// WebhookClient is the HTTP client of one mode's deliveries: every
// connection's address is checked as it is dialled (after DNS, so a name
// that resolves inside is refused at the moment it would connect: no DNS
// rebinding), no proxy, no redirects, WebhookTimeout in all.
func WebhookClient(mode wattfare.Mode) *http.Client {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !wattfare.WebhookAddressAllowed(mode, ap.Addr()) {
				return &AddressError{Mode: mode, Addr: address}
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: WebhookTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: WebhookTimeout,
			DisableKeepAlives:     true, // a client per attempt: keep no idle connection behind
			DisableCompression:    true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
}
