package postgres

import (
	"github.com/wattfare/wattfare"
)

// LeaseScope names the leases a revocation must wait for: one connection's,
// or every connection's of an app (in one mode, or both when Mode is empty).
type LeaseScope struct {
	ConnectionID string
	AppID        string
	Mode         wattfare.Mode
}
