package wattfare

import (
	"context"

	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhook event types: what an app's endpoint may subscribe to. Each event
// is written in the transaction of the change it reports (an outbox), so an
// app hears of every committed change exactly once-enqueued, even when the
// control plane stops right after the commit.
const (
	EventConnectionApproved   = "connection.approved"
	EventConnectionCapChanged = "connection.cap_changed"
	EventConnectionRevoked    = "connection.revoked"
	// EventConnectionCapReached is the first refusal at the cap in a period.
	EventConnectionCapReached = "connection.cap_reached"
	// EventConnectionCapWarning is 80 % of the cap captured in a period.
	EventConnectionCapWarning = "connection.cap_warning"
	EventAppSuspended         = "app.suspended"
	EventAppUnsuspended       = "app.unsuspended"
	EventKeyRevoked           = "key.revoked"
	// EventWebhookTest is what "send test event" sends to one endpoint,
	// whatever it subscribes to.
	EventWebhookTest = "webhook.test"
)

// WebhookEventTypes lists the types an endpoint may subscribe to.
var WebhookEventTypes = []string{
	EventConnectionApproved, EventConnectionCapChanged, EventConnectionRevoked, EventConnectionCapReached,
	EventConnectionCapWarning, EventAppSuspended, EventAppUnsuspended, EventKeyRevoked,
}

// MaxWebhookEndpoints bounds an app's endpoints per mode.
const MaxWebhookEndpoints = 16

// WebhookSecretOverlap is how long a rolled secret keeps signing beside the
// new one, so receivers can switch without missing an event.
const WebhookSecretOverlap = 24 * time.Hour

// WebhookEndpoint is where an app receives its events in one mode.
type WebhookEndpoint struct {
	ID     string
	AppID  string
	Mode   Mode
	URL    string
	Events []string
	// Enabled is false when the developer turned it off or Wattfare did,
	// after a delivery failed for the whole retry window (DisabledReason).
	Enabled        bool
	DisabledReason *string
	DisabledAt     *time.Time
	// PreviousSecretExpiresAt is set during a secret roll's overlap.
	PreviousSecretExpiresAt *time.Time
	CreatedAt               time.Time
}

// WebhookDeliveryStatus is where one event's delivery to one endpoint is.
type WebhookDeliveryStatus string

const (
	DeliveryPending   WebhookDeliveryStatus = "pending"   // not tried yet (or waiting for earlier events)
	DeliveryRetrying  WebhookDeliveryStatus = "retrying"  // an attempt failed; another is scheduled
	DeliverySucceeded WebhookDeliveryStatus = "succeeded" // the endpoint answered 2xx
	DeliveryFailed    WebhookDeliveryStatus = "failed"    // every attempt failed: the endpoint was disabled
	DeliverySkipped   WebhookDeliveryStatus = "skipped"   // the endpoint was disabled or deleted first
)

// WebhookDelivery is one event's delivery to one endpoint: the delivery log.
// Neither the body sent nor the one received is kept.
type WebhookDelivery struct {
	ID            string
	EndpointID    string
	EventID       string
	EventType     string
	Status        WebhookDeliveryStatus
	Attempts      int
	ResponseCode  *int
	Error         *string
	CreatedAt     time.Time
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time
}

// WebhookService manages apps' webhook endpoints. Every method that takes
// an ownerID answers NOT_FOUND for an endpoint or app of another owner.
type WebhookService interface {
	// Create adds an endpoint and returns it with its signing secret, which
	// is shown this once.
	Create(ctx context.Context, ownerID, appID string, mode Mode, url string, events []string) (WebhookEndpoint, string, error)
	// Update changes the URL, the events or whether it is enabled (nil
	// leaves a field); enabling clears Wattfare's disabling.
	Update(ctx context.Context, ownerID, endpointID string, url *string, events []string, enabled *bool) (WebhookEndpoint, error)
	// RollSecret replaces the signing secret; the previous one keeps
	// signing for WebhookSecretOverlap. The new secret is returned once.
	RollSecret(ctx context.Context, ownerID, endpointID string) (WebhookEndpoint, string, error)
	// Delete removes an endpoint; its pending deliveries are skipped.
	Delete(ctx context.Context, ownerID, endpointID string) error
	// ForApp lists an app's endpoints, oldest first (the caller authorized the app).
	ForApp(ctx context.Context, appID string) ([]WebhookEndpoint, error)
	// Deliveries lists an endpoint's newest deliveries (the caller
	// authorized its app), at most limit.
	Deliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
	// SendTest sends a webhook.test event to the endpoint.
	SendTest(ctx context.Context, ownerID, endpointID string) (WebhookDelivery, error)
	// Resend delivers a delivery's event again, as a new delivery.
	Resend(ctx context.Context, ownerID, deliveryID string) (WebhookDelivery, error)
}

// CheckWebhookEvents checks an endpoint's event types and removes duplicates.
func CheckWebhookEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, InvalidField("events", "choose at least one event type: %s", strings.Join(WebhookEventTypes, ", "))
	}
	out := make([]string, 0, len(events))
	for _, e := range events {
		if !slices.Contains(WebhookEventTypes, e) {
			return nil, InvalidField("events", "%q is not an event type; use %s", e, strings.Join(WebhookEventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// CheckWebhookURL checks a URL a developer typed for an endpoint: https
// (plain http only to localhost, in test mode), no user info or fragment,
// and in live mode no address that is not public (loopback, private,
// link-local, unspecified) written as an IP or as localhost. A host name is
// checked again at each connection, against the address it resolves to
// then (WebhookAddressAllowed), so DNS cannot point it inside later.
func CheckWebhookURL(mode Mode, raw string) error {
	bad := func(why string, args ...any) error { return InvalidField("url", why, args...) }
	if len(raw) > 2048 {
		return bad("at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return bad("use https://host/path")
	}
	if u.User != nil || u.Fragment != "" {
		return bad("no user info or fragment")
	}
	host := strings.ToLower(u.Hostname())
	loop := host == "localhost" || strings.HasSuffix(host, ".localhost")
	if ip, err := netip.ParseAddr(host); err == nil {
		loop = ip.IsLoopback()
		if mode == ModeLive && !WebhookAddressAllowed(mode, ip) {
			return bad("%s is not a public address: live-mode webhooks go to the internet only", host)
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if mode != ModeTest || !loop {
			return bad("use https (plain http is allowed to localhost in test mode only)")
		}
	default:
		return bad("use https")
	}
	if mode == ModeLive && loop {
		return bad("localhost is not a public address: live-mode webhooks go to the internet only")
	}
	return nil
}

// WebhookAddressAllowed reports whether a delivery in mode may connect to
// ip. Live mode reaches public addresses only; test mode also reaches
// loopback (a developer's own receiver) but never other private, link-local
// (cloud metadata) or unspecified ones.
func WebhookAddressAllowed(mode Mode, ip netip.Addr) bool {
	ip = ip.Unmap()
	if mode == ModeTest && ip.IsLoopback() {
		return true
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// nonPublic are ranges netip has no predicate for: carrier-grade NAT, the
// IETF's own, benchmarking, 6to4 relays, NAT64, documentation and reserved.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2001:db8::/32", "100::/64"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()
