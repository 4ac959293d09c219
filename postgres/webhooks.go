package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/jobs"
)

// Outbox writes webhook events (migrations/017_webhooks.sql) in the
// transaction of the change they report, through the SQL functions the
// ledger's own functions use (wattfare_connection_event,
// wattfare_webhook_event), and wakes their dispatch with a job inserted in
// that same transaction. Without a job queue the events are still written;
// the control plane's periodic sweep dispatches them.
type Outbox struct {
	Jobs jobs.Queue
}

func (o Outbox) wake(ctx context.Context, tx pgx.Tx, eventID string) error {
	if o.Jobs == nil || eventID == "" {
		return nil
	}
	if _, err := o.Jobs.InsertTx(ctx, tx, jobs.WebhookDispatch{EventID: eventID}, &river.InsertOpts{MaxAttempts: 25}); err != nil {
		return fmt.Errorf("insert webhook dispatch job: %w", err)
	}
	return nil
}

// connection writes a connection.* event for connID as tx sees it.
func (o Outbox) connection(ctx context.Context, tx pgx.Tx, connID, typ string, extra map[string]any) error {
	b, err := json.Marshal(extra)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if extra == nil {
		b = []byte("{}")
	}
	var id *string
	if err := tx.QueryRow(ctx, `SELECT wattfare_connection_event($1, $2, $3, $4)`,
		connID, typ, pgDate(wattfare.PeriodStart(time.Now())), b).Scan(&id); err != nil {
		return fmt.Errorf("write %s event: %w", typ, interpretError(err))
	}
	if id == nil {
		return nil
	}
	return o.wake(ctx, tx, *id)
}

// app writes an app.* event for appID, once per mode: each mode's
// endpoints hear of it.
func (o Outbox) app(ctx context.Context, tx pgx.Tx, appID, typ string) error {
	rows, err := tx.Query(ctx, `
		SELECT wattfare_webhook_event(a.id, m.mode, $2, jsonb_build_object('app', jsonb_build_object(
			'id', a.id, 'name', a.name, 'suspended', a.suspended_at IS NOT NULL,
			'suspended_at', a.suspended_at, 'suspended_reason', a.suspended_reason)))
		FROM apps a, (VALUES ('test'), ('live')) AS m(mode) WHERE a.id = $1`, appID, typ)
	if err != nil {
		return fmt.Errorf("write %s event: %w", typ, interpretError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("write %s event: %w", typ, interpretError(err))
	}
	for _, id := range ids {
		if err := o.wake(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// keyRevoked writes key.revoked for k when tx revoked it (revoked_at is
// this transaction's time): revoking a revoked key again tells no one.
func (o Outbox) keyRevoked(ctx context.Context, tx pgx.Tx, k wattfare.APIKey) error {
	var id string
	err := tx.QueryRow(ctx, `
		SELECT wattfare_webhook_event(k.app_id, k.mode, $2, jsonb_build_object('key', jsonb_build_object(
			'id', k.id, 'mode', k.mode, 'hint', k.hint, 'created_at', k.created_at, 'revoked_at', k.revoked_at)))
		FROM api_keys k WHERE k.id = $1 AND k.revoked_at = now()`, k.ID, wattfare.EventKeyRevoked).Scan(&id)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write key.revoked event: %w", interpretError(err))
	}
	return o.wake(ctx, tx, id)
}

// Webhooks keeps apps' webhook endpoints and their deliveries: it is the
// wattfare.WebhookService of the dashboard and the jobs.WebhookStore of
// the delivery jobs.
type Webhooks struct {
	DB *pgxpool.Pool
	// Jobs inserts the delivery jobs of test events and resends.
	Jobs jobs.Queue
	// Ring seals the signing secrets (WATTFARE_ENCRYPTION_KEY); without it
	// no endpoint can be created.
	Ring *keyring.Keyring
}

var (
	_ wattfare.WebhookService = (*Webhooks)(nil)
	_ jobs.WebhookStore       = (*Webhooks)(nil)
)

func errNoEndpoint() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such webhook endpoint") }

// newWebhookSecret is a signing secret: "whsec_" and 32 random bytes.
func newWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Webhooks) seal(endpointID, secret string) ([]byte, error) {
	if s.Ring == nil {
		return nil, wattfare.Errorf(wattfare.ECONFLICT, "webhooks are not available: the operator has not set WATTFARE_ENCRYPTION_KEY, which keeps signing secrets encrypted")
	}
	return s.Ring.Seal([]byte(secret), []byte(endpointID))
}

const endpointColumns = `e.id, e.app_id, e.mode, e.url, e.events, e.enabled, e.disabled_reason, e.disabled_at,
	CASE WHEN e.previous_expires_at > now() THEN e.previous_expires_at END, e.created_at`

func scanEndpoint(row pgx.Row) (wattfare.WebhookEndpoint, error) {
	var e wattfare.WebhookEndpoint
	var mode string
	err := row.Scan(&e.ID, &e.AppID, &mode, &e.URL, &e.Events, &e.Enabled, &e.DisabledReason, &e.DisabledAt,
		&e.PreviousSecretExpiresAt, &e.CreatedAt)
	e.Mode = wattfare.Mode(mode)
	return e, err
}

// Create implements wattfare.WebhookService.
func (s *Webhooks) Create(ctx context.Context, ownerID, appID string, mode wattfare.Mode, url string, events []string) (wattfare.WebhookEndpoint, string, error) {
	if !mode.Valid() {
		return wattfare.WebhookEndpoint{}, "", wattfare.InvalidField("mode", "unknown mode")
	}
	if err := wattfare.CheckWebhookURL(mode, url); err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	events, err := wattfare.CheckWebhookEvents(events)
	if err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	id := wattfare.NewID("we_")
	secret := newWebhookSecret()
	sealed, err := s.seal(id, secret)
	if err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	var e wattfare.WebhookEndpoint
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var n int
		// The app's row is locked so that two creations count each other.
		if err := tx.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM webhook_endpoints w WHERE w.app_id = a.id AND w.mode = $3 AND w.deleted_at IS NULL)
			FROM apps a WHERE a.id = $1 AND a.owner_id = $2 FOR UPDATE`, appID, ownerID, string(mode)).Scan(&n); err != nil {
			return fmt.Errorf("app: %w", interpretError(err, errNoApp()))
		}
		if n >= wattfare.MaxWebhookEndpoints {
			return wattfare.Errorf(wattfare.ECONFLICT, "an app has at most %d webhook endpoints per mode", wattfare.MaxWebhookEndpoints)
		}
		var err error
		e, err = scanEndpoint(tx.QueryRow(ctx, `
			INSERT INTO webhook_endpoints AS e (id, app_id, mode, url, events, secret) VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING `+endpointColumns, id, appID, string(mode), url, events, sealed))
		if err != nil {
			return fmt.Errorf("insert webhook endpoint: %w", interpretError(err))
		}
		return audit(ctx, tx, ownerID, "webhook_endpoint.create", "webhook_endpoint", id, map[string]any{"app_id": appID, "mode": mode, "url": url, "events": events})
	})
	if err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	return e, secret, nil
}

// lockOwned locks one of ownerID's endpoints in tx.
func lockOwned(ctx context.Context, tx pgx.Tx, ownerID, endpointID string) (wattfare.WebhookEndpoint, error) {
	e, err := scanEndpoint(tx.QueryRow(ctx, `
		SELECT `+endpointColumns+` FROM webhook_endpoints e JOIN apps a ON a.id = e.app_id
		WHERE e.id = $1 AND a.owner_id = $2 AND e.deleted_at IS NULL FOR UPDATE OF e`, endpointID, ownerID))
	if err != nil {
		return e, fmt.Errorf("webhook endpoint: %w", interpretError(err, errNoEndpoint()))
	}
	return e, nil
}

// Update implements wattfare.WebhookService.
func (s *Webhooks) Update(ctx context.Context, ownerID, endpointID string, url *string, events []string, enabled *bool) (wattfare.WebhookEndpoint, error) {
	var e wattfare.WebhookEndpoint
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		cur, err := lockOwned(ctx, tx, ownerID, endpointID)
		if err != nil {
			return err
		}
		if url != nil {
			if err := wattfare.CheckWebhookURL(cur.Mode, *url); err != nil {
				return err
			}
		}
		if events != nil {
			if events, err = wattfare.CheckWebhookEvents(events); err != nil {
				return err
			}
		}
		e, err = scanEndpoint(tx.QueryRow(ctx, `
			UPDATE webhook_endpoints e SET url = coalesce($2, url), events = coalesce($3, events),
				enabled = coalesce($4, enabled),
				disabled_reason = CASE WHEN $4 IS NULL THEN disabled_reason END,
				disabled_at = CASE WHEN $4 IS NULL THEN disabled_at WHEN NOT $4 THEN now() END
			WHERE e.id = $1 RETURNING `+endpointColumns, endpointID, url, events, enabled))
		if err != nil {
			return fmt.Errorf("update webhook endpoint: %w", interpretError(err))
		}
		return audit(ctx, tx, ownerID, "webhook_endpoint.update", "webhook_endpoint", endpointID, map[string]any{"url": e.URL, "events": e.Events, "enabled": e.Enabled})
	})
	return e, err
}

// RollSecret implements wattfare.WebhookService.
func (s *Webhooks) RollSecret(ctx context.Context, ownerID, endpointID string) (wattfare.WebhookEndpoint, string, error) {
	secret := newWebhookSecret()
	sealed, err := s.seal(endpointID, secret)
	if err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	var e wattfare.WebhookEndpoint
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := lockOwned(ctx, tx, ownerID, endpointID); err != nil {
			return err
		}
		e, err = scanEndpoint(tx.QueryRow(ctx, `
			UPDATE webhook_endpoints e SET previous_secret = secret, secret = $2,
				previous_expires_at = now() + $3 * interval '1 second'
			WHERE e.id = $1 RETURNING `+endpointColumns, endpointID, sealed, wattfare.WebhookSecretOverlap.Seconds()))
		if err != nil {
			return fmt.Errorf("roll webhook secret: %w", interpretError(err))
		}
		return audit(ctx, tx, ownerID, "webhook_endpoint.roll_secret", "webhook_endpoint", endpointID, nil)
	})
	if err != nil {
		return wattfare.WebhookEndpoint{}, "", err
	}
	return e, secret, nil
}

// Delete implements wattfare.WebhookService.
func (s *Webhooks) Delete(ctx context.Context, ownerID, endpointID string) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := lockOwned(ctx, tx, ownerID, endpointID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now(), enabled = false,
			secret = '\x00', previous_secret = NULL WHERE id = $1`, endpointID); err != nil {
			return fmt.Errorf("delete webhook endpoint: %w", interpretError(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'skipped', next_attempt_at = NULL
			WHERE endpoint_id = $1 AND status IN ('pending', 'retrying')`, endpointID); err != nil {
			return fmt.Errorf("skip deliveries: %w", interpretError(err))
		}
		return audit(ctx, tx, ownerID, "webhook_endpoint.delete", "webhook_endpoint", endpointID, nil)
	})
}

// ForApp implements wattfare.WebhookService.
func (s *Webhooks) ForApp(ctx context.Context, appID string) ([]wattfare.WebhookEndpoint, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints e
		WHERE e.app_id = $1 AND e.deleted_at IS NULL ORDER BY e.created_at, e.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.WebhookEndpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("webhook endpoints: %w", interpretError(err))
	}
	return out, nil
}

const deliveryColumns = `d.id, d.endpoint_id, d.event_id, ev.type, d.status, d.attempts, d.response_code, d.error,
	d.created_at, d.last_attempt_at, d.next_attempt_at`

func scanDelivery(row pgx.Row) (wattfare.WebhookDelivery, error) {
	var d wattfare.WebhookDelivery
	var st string
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &st, &d.Attempts, &d.ResponseCode, &d.Error,
		&d.CreatedAt, &d.LastAttemptAt, &d.NextAttemptAt)
	d.Status = wattfare.WebhookDeliveryStatus(st)
	return d, err
}

// Deliveries implements wattfare.WebhookService.
func (s *Webhooks) Deliveries(ctx context.Context, endpointID string, limit int) ([]wattfare.WebhookDelivery, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.WebhookDelivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", interpretError(err))
	}
	return out, nil
}

// enqueue inserts a delivery of eventID to endpointID and its job.
func enqueue(ctx context.Context, tx pgx.Tx, q jobs.Queue, endpointID, eventID string) (wattfare.WebhookDelivery, error) {
	d, err := scanDelivery(tx.QueryRow(ctx, `
		WITH d AS (
			INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_created_at)
			SELECT $1, $2, ev.id, ev.created_at FROM webhook_events ev WHERE ev.id = $3
			RETURNING *)
		SELECT `+deliveryColumns+` FROM d JOIN webhook_events ev ON ev.id = d.event_id`,
		wattfare.NewID("whd_"), endpointID, eventID))
	if err != nil {
		return d, fmt.Errorf("insert webhook delivery: %w", interpretError(err))
	}
	if q == nil {
		return d, errors.New("webhooks: no job queue to deliver with")
	}
	if _, err := q.InsertTx(ctx, tx, jobs.WebhookDeliver{DeliveryID: d.ID}, &river.InsertOpts{MaxAttempts: 25}); err != nil {
		return d, fmt.Errorf("insert webhook delivery job: %w", err)
	}
	return d, nil
}

// SendTest implements wattfare.WebhookService.
func (s *Webhooks) SendTest(ctx context.Context, ownerID, endpointID string) (wattfare.WebhookDelivery, error) {
	var d wattfare.WebhookDelivery
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		e, err := lockOwned(ctx, tx, ownerID, endpointID)
		if err != nil {
			return err
		}
		var id string
		if err := tx.QueryRow(ctx, `SELECT wattfare_webhook_event($1, $2, $3, jsonb_build_object('endpoint_id', $4::text))`,
			e.AppID, string(e.Mode), wattfare.EventWebhookTest, e.ID).Scan(&id); err != nil {
			return fmt.Errorf("write test event: %w", interpretError(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_events SET dispatched_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("write test event: %w", interpretError(err))
		}
		d, err = enqueue(ctx, tx, s.Jobs, e.ID, id)
		return err
	})
	return d, err
}

// Resend implements wattfare.WebhookService.
func (s *Webhooks) Resend(ctx context.Context, ownerID, deliveryID string) (wattfare.WebhookDelivery, error) {
	var d wattfare.WebhookDelivery
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var endpointID, eventID string
		if err := tx.QueryRow(ctx, `SELECT d.endpoint_id, d.event_id FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN apps a ON a.id = e.app_id
			WHERE d.id = $1 AND a.owner_id = $2 AND e.deleted_at IS NULL`, deliveryID, ownerID).Scan(&endpointID, &eventID); err != nil {
			return fmt.Errorf("webhook delivery: %w", interpretError(err, wattfare.Errorf(wattfare.ENOTFOUND, "no such webhook delivery")))
		}
		e, err := lockOwned(ctx, tx, ownerID, endpointID)
		if err != nil {
			return err
		}
		if !e.Enabled {
			return wattfare.Errorf(wattfare.ECONFLICT, "the endpoint is disabled: enable it first")
		}
		d, err = enqueue(ctx, tx, s.Jobs, endpointID, eventID)
		return err
	})
	return d, err
}

// Dispatch implements jobs.WebhookStore.
func (s *Webhooks) Dispatch(ctx context.Context, eventID string, q jobs.Queue) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, app_id, mode, type FROM webhook_events
			WHERE dispatched_at IS NULL AND ($1 = '' OR id = $1)
			ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED`, eventID)
		if err != nil {
			return fmt.Errorf("undispatched events: %w", interpretError(err))
		}
		type ev struct{ id, app, mode, typ string }
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ev, error) {
			var e ev
			return e, r.Scan(&e.id, &e.app, &e.mode, &e.typ)
		})
		if err != nil {
			return fmt.Errorf("undispatched events: %w", interpretError(err))
		}
		for _, e := range evs {
			rows, err := tx.Query(ctx, `SELECT id FROM webhook_endpoints
				WHERE app_id = $1 AND mode = $2 AND enabled AND deleted_at IS NULL AND $3 = ANY(events)
				ORDER BY id`, e.app, e.mode, e.typ)
			if err != nil {
				return fmt.Errorf("endpoints of event: %w", interpretError(err))
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("endpoints of event: %w", interpretError(err))
			}
			for _, ep := range ids {
				if _, err := enqueue(ctx, tx, q, ep, e.id); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE webhook_events SET dispatched_at = now() WHERE id = $1`, e.id); err != nil {
				return fmt.Errorf("mark event dispatched: %w", interpretError(err))
			}
			n++
		}
		return nil
	})
	return n, err
}

// Target implements jobs.WebhookStore.
func (s *Webhooks) Target(ctx context.Context, deliveryID string) (jobs.WebhookTarget, error) {
	var t jobs.WebhookTarget
	var st, mode string
	err := s.DB.QueryRow(ctx, `
		SELECT d.id, d.status, d.attempts, d.first_attempt_at,
			e.id, e.app_id, e.url, e.mode, e.enabled AND e.deleted_at IS NULL, e.secret, e.previous_secret, e.previous_expires_at,
			ev.id, ev.type, ev.created_at, ev.data
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.id = $1`, deliveryID).Scan(&t.DeliveryID, &st, &t.Attempts, &t.FirstTry,
		&t.EndpointID, &t.AppID, &t.URL, &mode, &t.EndpointOn, &t.Secret, &t.PreviousSecret, &t.PreviousExpires,
		&t.EventID, &t.EventType, &t.EventCreated, &t.EventData)
	if err != nil {
		return t, fmt.Errorf("webhook delivery %s: %w", deliveryID, interpretError(err))
	}
	t.Status, t.Mode = wattfare.WebhookDeliveryStatus(st), wattfare.Mode(mode)
	return t, nil
}

// Blocker implements jobs.WebhookStore: an open delivery of the endpoint
// for an older event, or an older event of the app and mode not yet fanned
// out (written by the ledger's SQL, dispatched by the next sweep), which may
// yet become one.
func (s *Webhooks) Blocker(ctx context.Context, t jobs.WebhookTarget) (time.Time, bool, error) {
	var next *time.Time
	err := s.DB.QueryRow(ctx, `
		SELECT min(x) FROM (
			(SELECT coalesce(d.next_attempt_at, now()) AS x FROM webhook_deliveries d
			 WHERE d.endpoint_id = $1 AND d.status IN ('pending', 'retrying')
			   AND (d.event_created_at, d.id) < ($2, $3)
			 ORDER BY d.event_created_at, d.id LIMIT 1)
			UNION ALL
			(SELECT now() FROM webhook_events ev
			 WHERE ev.dispatched_at IS NULL AND ev.created_at < $2 AND ev.app_id = $4 AND ev.mode = $5
			 LIMIT 1)) b`, t.EndpointID, t.EventCreated, t.DeliveryID, t.AppID, string(t.Mode)).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("earlier deliveries: %w", interpretError(err))
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return *next, true, nil
}

// Skip implements jobs.WebhookStore.
func (s *Webhooks) Skip(ctx context.Context, deliveryID string) error {
	_, err := s.DB.Exec(ctx, `UPDATE webhook_deliveries SET status = 'skipped', next_attempt_at = NULL
		WHERE id = $1 AND status IN ('pending', 'retrying')`, deliveryID)
	if err != nil {
		return fmt.Errorf("skip delivery: %w", interpretError(err))
	}
	return nil
}

// Record implements jobs.WebhookStore.
func (s *Webhooks) Record(ctx context.Context, a jobs.WebhookAttempt) error {
	status := wattfare.DeliveryRetrying
	switch {
	case a.OK:
		status = wattfare.DeliverySucceeded
	case a.GiveUp:
		status = wattfare.DeliveryFailed
	}
	var code *int
	if a.ResponseCode != 0 {
		code = &a.ResponseCode
	}
	var errText *string
	if a.Error != "" {
		e := a.Error
		if len(e) > 500 {
			e = e[:500]
		}
		errText = &e
	}
	var next *time.Time
	if !a.Next.IsZero() {
		next = &a.Next
	}
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var endpointID string
		if err := tx.QueryRow(ctx, `
			UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, response_code = $3, error = $4,
				first_attempt_at = coalesce(first_attempt_at, $5), last_attempt_at = $5, next_attempt_at = $6
			WHERE id = $1 RETURNING endpoint_id`, a.DeliveryID, string(status), code, errText, a.At, next).Scan(&endpointID); err != nil {
			return fmt.Errorf("record delivery attempt: %w", interpretError(err))
		}
		if !a.GiveUp {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now()
			WHERE id = $1 AND enabled`, endpointID, a.DisableReason); err != nil {
			return fmt.Errorf("disable endpoint: %w", interpretError(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'skipped', next_attempt_at = NULL
			WHERE endpoint_id = $1 AND status IN ('pending', 'retrying')`, endpointID); err != nil {
			return fmt.Errorf("skip deliveries: %w", interpretError(err))
		}
		return nil
	})
}
