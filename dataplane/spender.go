package dataplane

import (
	"context"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// Spender is the budget engine as the proxy uses it: package spend's
// *Engine behind a small interface, so that tests can run the proxy on a
// fake and the proxy's request path stays free of the ledger's imports.
type Spender interface {
	// Admit places a hold for a request or fails with a *wattfare.Error
	// (ECapReached, EBudgetExhausted, EConnectionRevoked, ENotConnected,
	// EAppSuspended, EInvalidAPIKey, EUnavailable) whose Metadata says which
	// limit tripped.
	Admit(ctx context.Context, p spend.Payer, a spend.Admission) (Hold, error)
	// Budget reports the payer's cap, spend and what remains.
	Budget(ctx context.Context, p spend.Payer) (wattfare.Budget, error)
	// Invalidate forwards a change notification.
	Invalidate(ev wattfare.ChangeEvent)
	// Resync re-validates every lease after the listener reconnected.
	Resync()
}

// Hold is one admitted request's reservation (see spend.Hold). Exactly one
// of Settle or Release is called for it.
type Hold interface {
	Amount() wattfare.Money
	Grow(to wattfare.Money) bool
	Done() <-chan struct{}
	Err() error
	Settle(u wattfare.Usage)
	Release()
}
