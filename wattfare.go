// Package wattfare holds Wattfare's domain: money, keys, the entities that the
// control plane writes and the data plane reads, change events and error codes.
// It depends on the standard library only; adapters (postgres, controlplane,
// graph, dataplane) depend on it, never the other way round.
package wattfare

import (
	"time"
)

// Entities named in change events.
const (
	EntityApp        = "app"
	EntityKey        = "api_key"
	EntityConnection = "connection"
	EntityModel      = "model"
	EntityWallet     = "wallet"
)

// NotifyChannel is the Postgres channel on which every write that the data
// plane must see is announced, inside the writing transaction.
const NotifyChannel = "wattfare_changes"

// ChangeEvent is the payload of a wattfare_changes notification. Triggers on
// apps, api_keys, connections and models publish it, so no write path can
// forget to. AppID, Mode and AppUserID are set for connections (their natural
// key, which the data plane caches by) and AppID for keys.
type ChangeEvent struct {
	Entity    string `json:"entity"`
	ID        string `json:"id"`
	Version   int64  `json:"version"`
	AppID     string `json:"app_id,omitempty"`
	Mode      Mode   `json:"mode,omitempty"`
	AppUserID string `json:"app_user_id,omitempty"`
	// At is when the change was written, in unix microseconds (0 when
	// unknown): what a listener's lag is measured from.
	At int64 `json:"at,omitempty"`
}

// ConnectionStatus is the state of a user's consent to an app.
type ConnectionStatus string

const (
	ConnectionActive  ConnectionStatus = "active"
	ConnectionRevoked ConnectionStatus = "revoked"
)

// App is a developer's application: what users connect their budget to.
type App struct {
	ID             string
	OwnerID        string
	Name           string
	AllowedOrigins []string
	SuspendedAt    *time.Time
	Version        int64
	CreatedAt      time.Time
}

// APIKey is a secret key's stored record: its hash and Ed25519 public key,
// never the secret itself.
type APIKey struct {
	ID           string // "key_" + kid
	AppID        string
	Mode         Mode
	SecretSHA256 [32]byte
	PublicKey    []byte
	Hint         string // last characters of the secret, for display
	CreatedAt    time.Time
	ExpiresAt    *time.Time // set when the key was rolled: the end of the overlap window
	RevokedAt    *time.Time
	Version      int64
}

// UsableAt reports whether the key authenticates requests at t: not
// revoked, and not past the overlap window of a roll.
func (k *APIKey) UsableAt(t time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || t.Before(*k.ExpiresAt))
}

// MaxMonthlyCap bounds a connection's monthly cap, whether the user sets it
// or an app's session token requests it.
const MaxMonthlyCap = 100_000 * Dollar

// Connection is a user's consent for an app (in one mode) to charge AI spend
// to their Wattfare budget, up to a monthly cap.
type Connection struct {
	ID         string
	AppID      string
	Mode       Mode
	AppUserID  string // the app's own id for its user
	AccountID  string // the Wattfare account that pays
	MonthlyCap Money
	Status     ConnectionStatus
	Version    int64
	CreatedAt  time.Time
	RevokedAt  *time.Time
	// UpstreamKeySealed is the connection's own upstream API key (its
	// OpenRouter key, the backstop of DESIGN.md), sealed as stored; nil
	// when none is provisioned or it is disabled. Only the data plane's
	// catalog reads it, and opens it once per cache load into UpstreamAuth.
	UpstreamKeySealed []byte
	// UpstreamAuth is the Authorization value for that key ("Bearer …"),
	// set by the data plane in its own memory only. Never logged, never
	// returned by an API.
	UpstreamAuth []byte
}

// Model is an entry of the catalog with the prices users pay: the
// upstream's cost times (1 + Markup), as the data plane charges them.
type Model struct {
	ID              string // what clients send as "model", e.g. "sandbox/echo"
	Upstream        string // "sandbox", "openrouter", "openai"
	UpstreamModel   string // the upstream's own name for it
	Kind            string // "chat" or "embedding"
	PromptPrice     Price
	CompletionPrice Price
	ContextLength   int
	MaxOutputTokens int
	Enabled         bool
	Version         int64
	// Markup is already in PromptPrice and CompletionPrice; a cost the
	// upstream reports in money (OpenRouter's usage.cost) is charged
	// Markup.Charge(cost).
	Markup      Markup
	DisplayName string
}

// PeriodStart returns the start of the calendar month (UTC) that contains t:
// caps reset then.
func PeriodStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PeriodEnd returns when the period containing t ends and the next begins.
func PeriodEnd(t time.Time) time.Time { return PeriodStart(t).AddDate(0, 1, 0) }
