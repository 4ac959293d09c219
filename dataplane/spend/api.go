// Package spend is the data plane's budget engine: it admits requests against
// budget leases held in memory, grows holds while streams run, settles usage
// exactly once (spool first, then group-committed batches), and surrenders
// leases on revoke and shutdown. It never imports pgx: Postgres sits behind
// the wattfare.Ledger interface, implemented by package postgres.
//
// This file holds the types the proxy codes against, and lists the methods.
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

// Admission asks for a hold. A priced request fills Quote and leaves Amount
// and MinAmount to the engine (see Quote); a raw admission sets Amount, the
// worst case the request can cost, and may set MinAmount > 0: when Amount
// cannot be covered, the engine may then grant any amount >= MinAmount.
type Admission struct {
	RequestID string
	Quote     Quote
	Amount    wattfare.Money
	MinAmount wattfare.Money
	At        time.Time // admission time: decides the period charged
}

// The engine's methods, for the proxy (engine.go, admit.go, budget.go,
// invalidate.go; a hold's in hold.go, done.go, checkpoint.go):
//
//	func New(cfg Config, ledger wattfare.Ledger) (*Engine, error)
//	func (e *Engine) Admit(ctx context.Context, p Payer, a Admission) (*Hold, error)
//	    errors are *wattfare.Error: ECapReached, EBudgetExhausted, EConnectionRevoked,
//	    ENotConnected, EAppSuspended, EInvalidAPIKey, EUnavailable, with Metadata
//	    (limit_source, cap_usd, spent_usd, held_usd, resets_at) filled in.
//	func (q *Quote) OutputLimit(held wattfare.Money) int64 // max_tokens for the upstream
//	func (e *Engine) Budget(ctx context.Context, p Payer) (wattfare.Budget, error)
//	func (e *Engine) Remaining(ctx context.Context, p Payer, now time.Time) (wattfare.Money, bool)
//	func (e *Engine) Invalidate(ev wattfare.ChangeEvent) // from the listener
//	func (e *Engine) Resync()                            // after the listener reconnects
//	func (e *Engine) Close(ctx context.Context) error    // flush settlements, return leases
//
//	func (h *Hold) Amount() wattfare.Money      // currently held for this request
//	func (h *Hold) Grow(to wattfare.Money) bool // raise the hold to `to`; false when it cannot
//	func (h *Hold) Done() <-chan struct{}        // closed when the payer is revoked/suspended:
//	                                             // the proxy must end the request with Err()
//	func (h *Hold) Err() error                   // why Done closed (a *wattfare.Error)
//	func (h *Hold) OnDone(f func()) (stop func() bool) // f runs once when Done closes
//	func (h *Hold) Checkpoint(u *wattfare.Usage)  // what a stream delivered so far: survives a SIGKILL
//	func (h *Hold) Settle(u wattfare.Usage)      // exactly once; durable before it returns
//	                                             // (spooled), committed in a later batch
//	func (h *Hold) Release()                     // nothing reached the upstream: charge nothing
