package spend

import (
	"time"

	"github.com/wattfare/wattfare"
)

// statusDenialTTL bounds how long a cached revoked/suspended/not-connected
// refusal is trusted without an invalidation.
const statusDenialTTL = 30 * time.Second

// refuse turns a ledger refusal into the typed error, and caches it.
func (e *Engine) refuse(cs *connState, keyID string, g wattfare.LeaseGrant, a Admission, periodStart time.Time, now int64) *wattfare.Error {
	err := refusal(g, periodStart)
	switch g.Reason {
	case wattfare.EInvalidAPIKey:
		cs.setGate(keyID, nil).deny(err)
	case wattfare.ECapReached, wattfare.EBudgetExhausted:
		cs.denial.Store(&denial{err: err, amount: a.floor(), until: now + int64(200*time.Millisecond)})
	default:
		// The ledger knows of a revoke this process was not told about:
		// end what is in flight too. Re-ask after a while in case the
		// event that lifts it is missed.
		e.denyConn(cs, err, now)
	}
	return err
}

func refusal(g wattfare.LeaseGrant, periodStart time.Time) *wattfare.Error {
	resets := wattfare.PeriodEnd(periodStart).Format(time.RFC3339)
	switch g.Reason {
	case wattfare.ECapReached:
		return &wattfare.Error{Code: wattfare.ECapReached,
			Message: "this app's monthly cap for this user is used up",
			Metadata: map[string]any{"limit_source": "connection_cap", "cap_usd": g.Cap.String(),
				"spent_usd": g.Captured.String(), "held_usd": max(0, g.Held).String(), "resets_at": resets}}
	case wattfare.EBudgetExhausted:
		return &wattfare.Error{Code: wattfare.EBudgetExhausted,
			Message: "the user's Wattfare wallet cannot cover this request",
			Metadata: map[string]any{"limit_source": "wallet", "cap_usd": g.Cap.String(),
				"spent_usd": g.Captured.String(), "held_usd": max(0, g.Held).String(), "resets_at": resets,
				"wallet_available_usd": max(0, g.WalletAvailable).String()}}
	default:
		return statusError(g.Reason)
	}
}

func statusError(reason string) *wattfare.Error {
	switch reason {
	case wattfare.ENotConnected:
		return &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}
	case wattfare.EConnectionRevoked:
		return &wattfare.Error{Code: wattfare.EConnectionRevoked, Message: "the user revoked this app's access to their budget"}
	case wattfare.EAppSuspended:
		return &wattfare.Error{Code: wattfare.EAppSuspended, Message: "this app is suspended"}
	case wattfare.EInvalidAPIKey:
		return &wattfare.Error{Code: wattfare.EInvalidAPIKey, Message: "the API key is revoked or expired"}
	case wattfare.ReasonWalletFrozen:
		return &wattfare.Error{Code: wattfare.EBudgetExhausted,
			Message:  "the user's Wattfare wallet is frozen while a payment dispute is open",
			Metadata: map[string]any{"limit_source": wattfare.LimitWalletFrozen}}
	default:
		return &wattfare.Error{Code: wattfare.EUnavailable, Message: "cannot admit: " + reason}
	}
}
