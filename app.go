package wattfare

import (
	"context"
	"time"
)

// AppDetails is an app as its owner and admins see it: the App the data
// plane works from, and why an admin suspended it, if one did.
type AppDetails struct {
	App
	SuspendedReason *string
}

// Suspended reports whether an admin suspended the app.
func (a AppDetails) Suspended() bool { return a.SuspendedAt != nil }

// AppService creates, reads, lists and suspends apps.
//
// Methods that take an ownerID act for the signed-in developer: they answer
// ENOTFOUND for an app of another owner, exactly as for one that does not
// exist, so that nobody learns which app ids exist. Methods that take an
// adminID, and Get and List, are for admins: the caller checks the role, the
// service records adminID in the audit log.
type AppService interface {
	// Create makes an app owned by ownerID.
	//
	// Returns EINVALID naming the field for a bad name or origin (not an
	// exact origin, too many, or one of Wattfare's own), and ECONFLICT
	// (field allowedOrigins) for an origin another developer's app has.
	Create(ctx context.Context, ownerID, name string, origins []string) (AppDetails, error)

	// Update changes the name and/or allowed origins (nil leaves a field
	// as it is) of ownerID's app.
	//
	// Returns ENOTFOUND, and Create's EINVALID and ECONFLICT.
	Update(ctx context.Context, ownerID, appID string, name *string, origins []string) (AppDetails, error)

	// ForOwner returns ownerID's app.
	//
	// Returns ENOTFOUND when ownerID does not own it.
	ForOwner(ctx context.Context, ownerID, appID string) (AppDetails, error)

	// Get returns any app. Admins only.
	//
	// Returns ENOTFOUND.
	Get(ctx context.Context, appID string) (AppDetails, error)

	// ByIDs returns the apps with the given ids in that order, nil for a
	// missing one. Dataloaders call it: the caller decides what of each app
	// it shows (a connected user sees its name, its owner and admins the rest).
	ByIDs(ctx context.Context, ids []string) ([]*AppDetails, error)

	// ListForOwner returns a page of ownerID's apps, newest first.
	//
	// Returns EINVALID for a page size out of range or a malformed cursor.
	ListForOwner(ctx context.Context, ownerID string, p Page) (Paged[AppDetails], error)

	// List returns a page of every app, newest first. Admins only.
	//
	// Returns EINVALID as ListForOwner does.
	List(ctx context.Context, p Page) (Paged[AppDetails], error)

	// Suspend stops an app: the data plane refuses it with EAppSuspended.
	// Admins only. It returns once no data-plane process admits requests
	// for the app.
	//
	// Returns EINVALID (field reason) for a reason that is empty or over
	// 500 characters, ENOTFOUND, and EPROPAGATIONPENDING together with the
	// suspended app when a data-plane lease was still open after the wait:
	// the suspension stands.
	Suspend(ctx context.Context, adminID, appID, reason string) (AppDetails, error)

	// Unsuspend lets a suspended app spend again. Admins only.
	//
	// Returns ENOTFOUND.
	Unsuspend(ctx context.Context, adminID, appID string) (AppDetails, error)
}

// MaxKeyOverlap bounds how long a rolled key keeps working.
const MaxKeyOverlap = 7 * 24 * time.Hour

// KeyService creates, rolls and revokes apps' secret keys. A secret is
// returned once, when the key is made; only its hash is stored.
//
// Every method that takes an ownerID acts for the signed-in developer and
// answers ENOTFOUND for a key or app of another owner, exactly as for one
// that does not exist.
type KeyService interface {
	// Create makes a secret key for ownerID's app in mode and returns it
	// with its secret.
	//
	// Returns EINVALID (field mode), ENOTFOUND for the app, and ECONFLICT
	// when the app has as many active keys in mode as it may.
	Create(ctx context.Context, ownerID, appID string, mode Mode) (APIKey, string, error)

	// Roll makes a replacement for one of ownerID's keys, in the same app
	// and mode; the old key keeps working for overlap (0 to MaxKeyOverlap).
	//
	// Returns EINVALID (field overlapSeconds), ENOTFOUND, ECONFLICT for a
	// revoked or expired key or an app at its key limit, and, with no
	// overlap, EPROPAGATIONPENDING together with the new key as Revoke does.
	Roll(ctx context.Context, ownerID, keyID string, overlap time.Duration) (APIKey, string, error)

	// Revoke stops one of ownerID's keys at once. It returns once no
	// data-plane process admits requests in the key's app and mode on a
	// lease taken before the revoke.
	//
	// Returns ENOTFOUND, and EPROPAGATIONPENDING together with the revoked
	// key when a lease was still open after the wait: the revoke stands.
	Revoke(ctx context.Context, ownerID, keyID string) (APIKey, error)

	// ForApps returns each app's keys (both modes), newest first, in the
	// order of appIDs. Dataloaders call it: the caller has authorized the
	// apps (their owner or an admin).
	ForApps(ctx context.Context, appIDs []string) ([][]APIKey, error)
}
