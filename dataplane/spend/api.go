// Package spend is the data plane's budget engine: it admits requests against
// budget leases held in memory, grows holds while streams run, settles usage
// exactly once (spool first, then group-committed batches), and surrenders
// leases on revoke and shutdown. It never imports pgx: Postgres sits behind
// the Ledger interface, implemented by package postgres.
//
// This file is the contract the proxy codes against. Its owner may add to it;
// changing a signature means changing the proxy in the same commit.
package spend

import (
	"time"

	"github.com/wattfare/wattfare"
)

// Payer identifies whose budget a request spends: one connection (app, mode,
// the app's user id → account) and its wallet. The proxy resolves it from its
// cache; the engine re-checks status whenever it leases from Postgres.
type Payer struct {
	ConnectionID string
	AccountID    string
	AppID        string
	KeyID        string // the key the request authenticated with; lease grants re-check it
	AppUserID    string
	Mode         wattfare.Mode
	MonthlyCap   wattfare.Money // as cached; the ledger's copy is authoritative
}

// Admission asks for a hold. Amount is the worst case the request can cost.
// When MinAmount > 0 and Amount cannot be covered, the engine may grant any
// amount >= MinAmount (the proxy then clamps max_tokens to what was granted).
type Admission struct {
	RequestID string
	Amount    wattfare.Money
	MinAmount wattfare.Money
	At        time.Time // admission time: decides the period charged
}

// Usage is what a finished request consumed. The proxy fills it from the
// upstream's usage (or from what it counted when there was none).
type Usage struct {
	Model            string
	Upstream         string
	UpstreamID       string // e.g. OpenRouter's generation id
	Endpoint         string // "chat" or "embeddings"
	Stream           bool
	Status           string // "ok", "upstream_error", "cut", "client_closed", "revoked", ...
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	ReasoningTokens  int64
	Cost             wattfare.Money
	Duration         time.Duration
}

// Budget is what GET /v1/budget and the Wattfare-Budget-Remaining header
// report for a payer, as an app developer reads them: a request that has
// settled is spent at once, and money is held only while a request runs.
//
// Spent is what the period's requests cost: what the ledger captured plus
// this process's settlements still waiting for their batch commit, so that a
// client reads its own writes. Held is what this process's requests in
// progress hold for their worst case; the idle reserve of budget leases
// (which only speeds up admission) is not counted, nor are other processes'
// requests still running. Wallet is what the wallet has left on the same
// terms: credits less captured, pending and held. Remaining is
// min(Cap - Spent - Held, Wallet), never negative: what the next request may
// spend.
type Budget struct {
	Cap       wattfare.Money
	Spent     wattfare.Money
	Held      wattfare.Money
	Remaining wattfare.Money
	Wallet    wattfare.Money
	ResetsAt  time.Time
}

// The engine's methods, for the proxy (implemented in engine.go):
//
//	func New(cfg Config, ledger Ledger) (*Engine, error)
//	func (e *Engine) Admit(ctx context.Context, p Payer, a Admission) (*Hold, error)
//	    errors are *wattfare.Error: ECapReached, EBudgetExhausted, EConnectionRevoked,
//	    ENotConnected, EAppSuspended, EInvalidAPIKey, EUnavailable, with Metadata
//	    (limit_source, cap_usd, spent_usd, resets_at) filled in.
//	func (e *Engine) Budget(ctx context.Context, p Payer) (Budget, error)
//	func (e *Engine) Invalidate(ev wattfare.ChangeEvent) // from the listener
//	func (e *Engine) Resync()                            // after the listener reconnects
//	func (e *Engine) Close(ctx context.Context) error    // flush settlements, return leases
//
//	func (h *Hold) Amount() wattfare.Money      // currently held for this request
//	func (h *Hold) Grow(to wattfare.Money) bool // raise the hold to `to`; false when it cannot
//	func (h *Hold) Done() <-chan struct{}        // closed when the payer is revoked/suspended:
//	                                             // the proxy must end the request with Err()
//	func (h *Hold) Err() error                   // why Done closed (a *wattfare.Error)
//	func (h *Hold) Settle(u Usage)               // exactly once; durable before it returns
//	                                             // (spooled), committed in a later batch
//	func (h *Hold) Release()                     // nothing reached the upstream: charge nothing
