package dataplane

import (
	"context"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// Spender is the budget engine as the proxy uses it: package spend's
// *Engine behind a small interface, so that tests can run the proxy on a
// fake and the proxy's request path stays free of the ledger's imports. It
// is the only judge of money: it prices holds from a spend.Quote, and of
// revocation: it ends a request by closing its hold.
type Spender interface {
	// Admit places a hold for a request or fails with a *wattfare.Error
	// (ECapReached, EBudgetExhausted, EConnectionRevoked, ENotConnected,
	// EAppSuspended, EInvalidAPIKey, EUnavailable) whose Metadata says which
	// limit tripped.
	Admit(ctx context.Context, p spend.Payer, a spend.Admission) (Hold, error)
	// Budget reports the payer's cap, spend and what remains.
	Budget(ctx context.Context, p spend.Payer) (wattfare.Budget, error)
	// Remaining is Budget's Remaining as of about a second ago, for the
	// Wattfare-Budget-Remaining header; ok is false when it is unknown.
	Remaining(ctx context.Context, p spend.Payer, now time.Time) (wattfare.Money, bool)
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
	// OnDone runs f once when Done closes; stop cancels it.
	OnDone(f func()) (stop func() bool)
	// Checkpoint records what a stream delivered so far, so that a
	// process killed mid-stream loses none of it.
	Checkpoint(u *wattfare.Usage)
	Settle(u wattfare.Usage)
	Release()
}

// EngineSpender adapts the spend engine to the proxy's Spender.
func EngineSpender(e *spend.Engine) Spender { return engineSpender{e} }

type engineSpender struct{ *spend.Engine }

func (e engineSpender) Admit(ctx context.Context, p spend.Payer, a spend.Admission) (Hold, error) {
	h, err := e.Engine.Admit(ctx, p, a)
	if err != nil {
		return nil, err
	}
	return h, nil
}

var (
	_ Spender = engineSpender{}
	_ Hold    = (*spend.Hold)(nil)
)
