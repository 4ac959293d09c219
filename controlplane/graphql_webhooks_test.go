package controlplane_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

const createEndpointMutation = `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) {
	endpoint { id url events enabled mode } secret } }`

type endpointOut struct {
	ID, URL, Mode  string
	Events         []string
	Enabled        bool
	DisabledReason *string
	Deliveries     []struct{ ID, EventType, Status string }
}

// A developer manages an app's endpoints over GraphQL: the secret is in the
// creation's answer only, never in a read; live mode refuses a private or
// loopback URL; only the app's owner sees or changes its endpoints; "send
// test event" logs a delivery.
func TestGraphQLWebhookEndpoints(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	cfg := controlplane.WithPostgres(controlplane.Config{
		PublicURL: "http://example.com", DataURL: "http://data.example.com",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, pool, 10*time.Second)
	ring, err := keyring.New("k1", bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(pool, nil, jobs.Options{}) // inserts only: nothing delivers in this test
	if err != nil {
		t.Fatal(err)
	}
	cfg.Services.Webhooks = &postgres.Webhooks{DB: pool, Ring: ring, Jobs: q}
	s, err := controlplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, h: s.Handler()}
	f := newFixture(t, h, "wh")

	var created struct {
		CreateWebhookEndpoint struct {
			Endpoint endpointOut
			Secret   string
		}
	}
	f.dev.mustDo(createEndpointMutation, map[string]any{"in": map[string]any{
		"appId": f.appID, "mode": "TEST", "url": "http://localhost:4242/hooks",
		"events": []string{"connection.revoked", "connection.cap_warning", "connection.revoked"},
	}}, &created)
	c := created.CreateWebhookEndpoint
	if !strings.HasPrefix(c.Secret, "whsec_") || c.Endpoint.URL != "http://localhost:4242/hooks" || !c.Endpoint.Enabled ||
		strings.Join(c.Endpoint.Events, ",") != "connection.revoked,connection.cap_warning" || c.Endpoint.Mode != "TEST" {
		t.Fatalf("created %+v", c)
	}

	t.Run("ErrLivePrivate", func(t *testing.T) {
		for _, u := range []string{"https://127.0.0.1/hooks", "https://10.0.0.8/hooks", "https://localhost/x", "http://hooks.example.com/x"} {
			f.dev.wantCode("INVALID_INPUT", "url", createEndpointMutation, map[string]any{"in": map[string]any{
				"appId": f.appID, "mode": "LIVE", "url": u, "events": []string{"key.revoked"}}})
		}
	})
	t.Run("ErrUnknownEvent", func(t *testing.T) {
		f.dev.wantCode("INVALID_INPUT", "events", createEndpointMutation, map[string]any{"in": map[string]any{
			"appId": f.appID, "mode": "TEST", "url": "https://hooks.example.com", "events": []string{"payment.succeeded"}}})
	})
	t.Run("ErrNotOwner", func(t *testing.T) {
		f.user.wantCode("NOT_FOUND", "", createEndpointMutation, map[string]any{"in": map[string]any{
			"appId": f.appID, "mode": "TEST", "url": "https://hooks.example.com", "events": []string{"key.revoked"}}})
		f.user.wantCode("NOT_FOUND", "", `mutation($id: ID!) { rollWebhookSecret(endpointId: $id) { secret } }`, map[string]any{"id": c.Endpoint.ID})
	})
	t.Run("OK", func(t *testing.T) {
		var test struct {
			SendTestWebhookEvent struct{ EventType, Status string }
		}
		f.dev.mustDo(`mutation($id: ID!) { sendTestWebhookEvent(endpointId: $id) { eventType status } }`, map[string]any{"id": c.Endpoint.ID}, &test)
		if test.SendTestWebhookEvent.EventType != "webhook.test" || test.SendTestWebhookEvent.Status != "PENDING" {
			t.Fatalf("%+v", test)
		}
		var rolled struct{ RollWebhookSecret struct{ Secret string } }
		f.dev.mustDo(`mutation($id: ID!) { rollWebhookSecret(endpointId: $id) { secret } }`, map[string]any{"id": c.Endpoint.ID}, &rolled)
		if rolled.RollWebhookSecret.Secret == c.Secret || !strings.HasPrefix(rolled.RollWebhookSecret.Secret, "whsec_") {
			t.Fatal("the roll did not make a new secret")
		}
		var off struct{ UpdateWebhookEndpoint endpointOut }
		f.dev.mustDo(`mutation($in: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $in) { id enabled events } }`,
			map[string]any{"in": map[string]any{"id": c.Endpoint.ID, "enabled": false, "events": []string{"key.revoked"}}}, &off)
		if off.UpdateWebhookEndpoint.Enabled || strings.Join(off.UpdateWebhookEndpoint.Events, ",") != "key.revoked" {
			t.Fatalf("%+v", off)
		}
		var read struct {
			App struct{ WebhookEndpoints []endpointOut }
		}
		readQuery := `query($id: ID!) { app(id: $id) { webhookEndpoints { id url events enabled disabledReason deliveries(first: 5) { id eventType status } } } }`
		f.dev.mustDo(readQuery, map[string]any{"id": f.appID}, &read)
		var whole map[string]any
		f.dev.mustDo(readQuery, map[string]any{"id": f.appID}, &whole)
		rawb, _ := json.Marshal(whole)
		raw := string(rawb)
		eps := read.App.WebhookEndpoints
		if len(eps) != 1 || eps[0].ID != c.Endpoint.ID || eps[0].Enabled || len(eps[0].Deliveries) != 1 || eps[0].Deliveries[0].EventType != "webhook.test" {
			t.Fatalf("%+v", eps)
		}
		if strings.Contains(raw, "whsec_") {
			t.Fatal("a read shows a signing secret")
		}

		// What the dashboard's card and delivery log read.
		var detail struct {
			App struct {
				WebhookEndpoints []struct {
					CreatedAt               time.Time
					DisabledAt              *time.Time
					PreviousSecretExpiresAt *time.Time
					Deliveries              []struct {
						ID, EventID, Status        string
						Attempts                   int
						ResponseCode               *int
						Error                      *string
						CreatedAt                  time.Time
						LastAttemptAt, NextAttempt *time.Time
					}
				}
			}
			WebhookEventTypes []string
		}
		f.dev.mustDo(`query($id: ID!) { webhookEventTypes app(id: $id) { webhookEndpoints { createdAt disabledAt previousSecretExpiresAt
			deliveries(first: 5) { id eventId status attempts responseCode error createdAt lastAttemptAt nextAttempt: nextAttemptAt } } } }`,
			map[string]any{"id": f.appID}, &detail)
		ep := detail.App.WebhookEndpoints[0]
		now := time.Now()
		if ep.CreatedAt.IsZero() || ep.CreatedAt.After(now) || ep.PreviousSecretExpiresAt == nil ||
			ep.PreviousSecretExpiresAt.Sub(now) < 23*time.Hour || ep.PreviousSecretExpiresAt.Sub(now) > 25*time.Hour {
			t.Errorf("endpoint created %v, previous secret until %v: want it signing for the roll's 24 h", ep.CreatedAt, ep.PreviousSecretExpiresAt)
		}
		d := ep.Deliveries[0]
		if d.EventID == "" || d.Attempts != 0 || d.ResponseCode != nil || d.Error != nil || d.LastAttemptAt != nil || d.CreatedAt.IsZero() {
			t.Errorf("a delivery not attempted yet: %+v", d)
		}
		if types := strings.Join(detail.WebhookEventTypes, ","); !strings.Contains(types, "connection.revoked") || !strings.Contains(types, "connection.cap_warning") || len(detail.WebhookEventTypes) < 8 {
			t.Errorf("webhookEventTypes %v", detail.WebhookEventTypes)
		}
		// A disabled endpoint resends nothing until it is enabled again.
		f.dev.wantCode("CONFLICT", "", `mutation($id: ID!) { resendWebhookDelivery(deliveryId: $id) { id } }`, map[string]any{"id": d.ID})
		f.dev.mustDo(`mutation($in: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $in) { id enabled } }`,
			map[string]any{"in": map[string]any{"id": c.Endpoint.ID, "enabled": true}}, &off)
		var resent struct {
			ResendWebhookDelivery struct{ ID, EventID, Status string }
		}
		f.dev.mustDo(`mutation($id: ID!) { resendWebhookDelivery(deliveryId: $id) { id eventId status } }`, map[string]any{"id": d.ID}, &resent)
		if resent.ResendWebhookDelivery.EventID != d.EventID || resent.ResendWebhookDelivery.Status != "PENDING" {
			t.Errorf("resend of %s: %+v", d.ID, resent.ResendWebhookDelivery)
		}
		f.user.wantCode("NOT_FOUND", "", `mutation($id: ID!) { resendWebhookDelivery(deliveryId: $id) { id } }`, map[string]any{"id": d.ID})
		var del struct{ DeleteWebhookEndpoint bool }
		f.dev.mustDo(`mutation($id: ID!) { deleteWebhookEndpoint(endpointId: $id) }`, map[string]any{"id": c.Endpoint.ID}, &del)
		f.dev.mustDo(`query($id: ID!) { app(id: $id) { webhookEndpoints { id } } }`, map[string]any{"id": f.appID}, &read)
		if !del.DeleteWebhookEndpoint || len(read.App.WebhookEndpoints) != 0 {
			t.Fatalf("after delete: %+v", read)
		}
	})
}
