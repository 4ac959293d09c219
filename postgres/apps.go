package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/backoff"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// MaxOrigins bounds an app's allowed origins.
const MaxOrigins = 20

// Apps creates, updates, lists and suspends apps. Every method that takes
// an ownerID answers NOT_FOUND for an app of another owner, exactly as for
// an app that does not exist.
type Apps struct {
	DB *pgxpool.Pool
	// LeaseWait bounds how long Suspend waits for data-plane leases.
	LeaseWait time.Duration
	// ReservedOrigins are Wattfare's own origins (the control plane's and
	// the data plane's public ones), which no app may register: the
	// consent flow takes a page of a registered origin for the app's own.
	ReservedOrigins []string
	// Backstop inserts the upstream backstop's key jobs (zero: none).
	Backstop Backstop
	// Events writes app.suspended and app.unsuspended webhook events.
	Events Outbox
}

var _ wattfare.AppService = (*Apps)(nil)

func appFrom(r sqlc.App) wattfare.AppDetails {
	a := wattfare.AppDetails{App: wattfare.App{ID: r.ID, OwnerID: r.OwnerID, Name: r.Name, AllowedOrigins: r.AllowedOrigins,
		SuspendedAt: r.SuspendedAt, CreatedAt: r.CreatedAt, Version: r.Version}, SuspendedReason: r.SuspendedReason}
	if a.AllowedOrigins == nil {
		a.AllowedOrigins = []string{}
	}
	return a
}

// oneApp maps a single-app query's result: no row is NOT_FOUND.
func oneApp(r sqlc.App, err error) (wattfare.AppDetails, error) {
	if err != nil {
		return wattfare.AppDetails{}, fmt.Errorf("app: %w", interpretError(err, errNoApp()))
	}
	return appFrom(r), nil
}

func errNoApp() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such app") }

// CheckAppName trims and checks an app's name.
func CheckAppName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := len([]rune(name)); n < 1 || n > 100 {
		return "", wattfare.InvalidField("name", "use 1 to 100 characters")
	}
	return name, nil
}

// CheckOrigin accepts exact origins only: scheme://host[:port], lowercase,
// without a path (not even "/"), query, fragment, user info or wildcard.
// Plain http is allowed for localhost and 127.0.0.1 only.
func CheckOrigin(s string) error {
	bad := func(why string) error {
		return wattfare.InvalidField("allowedOrigins", "%q is not an exact origin: %s", s, why)
	}
	if strings.ContainsAny(s, "*?# \t\r\n\\") {
		return bad("no wildcards, queries, fragments or spaces")
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return bad("use scheme://host[:port]")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("the scheme must be https (or http for localhost)")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "" {
		return bad("no path, query, fragment or user info (and no trailing slash)")
	}
	host := u.Hostname()
	if host == "" || host != strings.ToLower(host) {
		return bad("the host must be lowercase and present")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return bad("bad port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("bad port")
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip == nil {
		for _, label := range strings.Split(host, ".") {
			if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
				strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				return bad("bad host name")
			}
		}
	}
	if u.Scheme == "http" && host != "localhost" && host != "127.0.0.1" && host != "::1" {
		return bad("plain http is allowed for localhost only")
	}
	if u.Scheme+"://"+u.Host != s {
		return bad("use scheme://host[:port]")
	}
	return nil
}

// CheckOrigins checks each origin and removes duplicates, keeping order.
func CheckOrigins(origins []string) ([]string, error) {
	if len(origins) > MaxOrigins {
		return nil, wattfare.InvalidField("allowedOrigins", "at most %d origins", MaxOrigins)
	}
	out := make([]string, 0, len(origins))
	seen := map[string]bool{}
	for _, o := range origins {
		if err := CheckOrigin(o); err != nil {
			return nil, err
		}
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out, nil
}

// checkReserved refuses Wattfare's own origins.
func (s *Apps) checkReserved(origins []string) error {
	for _, o := range origins {
		if slices.Contains(s.ReservedOrigins, o) {
			return wattfare.InvalidField("allowedOrigins", "%s is Wattfare's own origin; register the origin your app's pages are served from", o)
		}
	}
	return nil
}

// loopback reports an origin on the developer's own machine: every
// developer may register http://localhost:3000, since no page there can be
// served to anyone else.
func loopback(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// claimOrigins refuses origins that an app of another developer has
// registered: the consent flow vouches for a request by the page it came
// from, so an origin must name one developer's apps. Each origin's lock is
// held until tx ends, so that two developers registering one origin at
// once cannot both pass.
func claimOrigins(ctx context.Context, tx pgx.Tx, ownerID string, origins []string) error {
	var claimed []string
	for _, o := range origins {
		if !loopback(o) {
			claimed = append(claimed, o)
		}
	}
	if len(claimed) == 0 {
		return nil
	}
	slices.Sort(claimed) // one order, so that no two writers deadlock
	for _, o := range claimed {
		if err := queries.LockOrigin(ctx, tx, o); err != nil {
			return fmt.Errorf("lock origin: %w", interpretError(err))
		}
	}
	taken, err := queries.OriginOfOtherOwner(ctx, tx, sqlc.OriginOfOtherOwnerParams{OwnerID: ownerID, Origins: claimed})
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("origins of other apps: %w", interpretError(err))
	}
	return &wattfare.Error{Code: wattfare.ECONFLICT, Field: "allowedOrigins",
		Message: taken + " is registered by another developer's app; an origin can belong to one developer's apps only"}
}

// Create makes an app owned by ownerID.
func (s *Apps) Create(ctx context.Context, ownerID, name string, origins []string) (wattfare.AppDetails, error) {
	name, err := CheckAppName(name)
	if err != nil {
		return wattfare.AppDetails{}, err
	}
	origins, err = CheckOrigins(origins)
	if err != nil {
		return wattfare.AppDetails{}, err
	}
	if err := s.checkReserved(origins); err != nil {
		return wattfare.AppDetails{}, err
	}
	var a wattfare.AppDetails
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := claimOrigins(ctx, tx, ownerID, origins); err != nil {
			return err
		}
		row, err := queries.InsertApp(ctx, tx, sqlc.InsertAppParams{ID: wattfare.NewAppID().String(), OwnerID: ownerID, Name: name, AllowedOrigins: origins})
		if err != nil {
			return fmt.Errorf("insert app: %w", err)
		}
		a = appFrom(row)
		return audit(ctx, tx, ownerID, "app.create", "app", a.ID, map[string]any{"name": name, "allowed_origins": origins})
	})
	return a, err
}

// Update changes an app's name and/or allowed origins (nil leaves a field as it is).
func (s *Apps) Update(ctx context.Context, ownerID, appID string, name *string, origins []string) (wattfare.AppDetails, error) {
	var err error
	if name != nil {
		n, err := CheckAppName(*name)
		if err != nil {
			return wattfare.AppDetails{}, err
		}
		name = &n
	}
	if origins != nil {
		if origins, err = CheckOrigins(origins); err != nil {
			return wattfare.AppDetails{}, err
		}
		if err := s.checkReserved(origins); err != nil {
			return wattfare.AppDetails{}, err
		}
	}
	var a wattfare.AppDetails
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := claimOrigins(ctx, tx, ownerID, origins); err != nil {
			return err
		}
		var err error
		a, err = oneApp(queries.UpdateOwnedApp(ctx, tx, sqlc.UpdateOwnedAppParams{ID: appID, OwnerID: ownerID, Name: name, AllowedOrigins: origins}))
		if err != nil {
			return err
		}
		return audit(ctx, tx, ownerID, "app.update", "app", a.ID, map[string]any{"name": a.Name, "allowed_origins": a.AllowedOrigins})
	})
	return a, err
}

// ForOwner returns the app when ownerID owns it, NOT_FOUND otherwise.
func (s *Apps) ForOwner(ctx context.Context, ownerID, appID string) (wattfare.AppDetails, error) {
	return oneApp(queries.OwnedApp(ctx, s.DB, sqlc.OwnedAppParams{ID: appID, OwnerID: ownerID}))
}

// Get returns any app, for admins.
func (s *Apps) Get(ctx context.Context, appID string) (wattfare.AppDetails, error) {
	return oneApp(queries.AppByID(ctx, s.DB, appID))
}

// FindByOwnerAndName returns ownerID's app called name; the demo seed uses it.
func (s *Apps) FindByOwnerAndName(ctx context.Context, ownerID, name string) (wattfare.AppDetails, error) {
	return oneApp(queries.AppByOwnerAndName(ctx, s.DB, sqlc.AppByOwnerAndNameParams{OwnerID: ownerID, Name: name}))
}

// ByIDs returns the apps with the given ids in that order (nil when
// missing). Dataloaders call it; callers authorize what they show.
func (s *Apps) ByIDs(ctx context.Context, ids []string) ([]*wattfare.AppDetails, error) {
	found, err := queries.AppsByIDs(ctx, s.DB, ids)
	if err != nil {
		return nil, fmt.Errorf("load apps: %w", err)
	}
	return inIDOrder(ids, found, appFrom, func(a *wattfare.AppDetails) string { return a.ID }), nil
}

// ListForOwner returns a page of ownerID's apps, newest first.
func (s *Apps) ListForOwner(ctx context.Context, ownerID string, p wattfare.Page) (wattfare.Paged[wattfare.AppDetails], error) {
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.AppDetails, error) {
		rows, err := queries.OwnerAppsPage(ctx, s.DB, sqlc.OwnerAppsPageParams{OwnerID: ownerID, AfterAt: after.at(), AfterID: after.id(), Lim: limit})
		return apps(rows), interpretError(err)
	}, appKey)
}

// List returns a page of every app, for admins.
func (s *Apps) List(ctx context.Context, p wattfare.Page) (wattfare.Paged[wattfare.AppDetails], error) {
	return fetchPage(p, func(after *cursorKey, limit int32) ([]wattfare.AppDetails, error) {
		rows, err := queries.AppsPage(ctx, s.DB, sqlc.AppsPageParams{AfterAt: after.at(), AfterID: after.id(), Lim: limit})
		return apps(rows), interpretError(err)
	}, appKey)
}

func apps(rows []sqlc.App) []wattfare.AppDetails {
	out := make([]wattfare.AppDetails, len(rows))
	for i, r := range rows {
		out[i] = appFrom(r)
	}
	return out
}

func appKey(a wattfare.AppDetails) cursorKey { return cursorKey{a.CreatedAt, a.ID} }

// Suspend stops an app: the data plane refuses it with app_suspended. It
// returns once no data-plane process admits requests for the app.
func (s *Apps) Suspend(ctx context.Context, adminID, appID, reason string) (wattfare.AppDetails, error) {
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n < 1 || n > 500 {
		return wattfare.AppDetails{}, wattfare.InvalidField("reason", "use 1 to 500 characters")
	}
	var a wattfare.AppDetails
	var leases []string
	var keyJobs []int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		a, err = oneApp(queries.SuspendApp(ctx, tx, sqlc.SuspendAppParams{ID: appID, Reason: &reason}))
		if err != nil {
			return err
		}
		if leases, err = openLeases(ctx, tx, LeaseScope{AppID: appID}); err != nil {
			return err
		}
		// The upstream keys of its live connections are disabled too.
		if keyJobs, err = s.Backstop.syncApp(ctx, tx, appID); err != nil {
			return err
		}
		if err := s.Events.app(ctx, tx, appID, wattfare.EventAppSuspended); err != nil {
			return err
		}
		return audit(ctx, tx, adminID, "app.suspend", "app", appID, map[string]any{"reason": reason})
	})
	if err != nil {
		return wattfare.AppDetails{}, err
	}
	keyDone := make(chan struct{})
	go func() { defer close(keyDone); s.Backstop.await(ctx, keyJobs) }()
	pending := awaitLeases(ctx, s.DB, s.LeaseWait, leases)
	<-keyDone
	return a, pending
}

// Unsuspend lets a suspended app spend again.
func (s *Apps) Unsuspend(ctx context.Context, adminID, appID string) (wattfare.AppDetails, error) {
	var a wattfare.AppDetails
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		a, err = oneApp(queries.UnsuspendApp(ctx, tx, appID))
		if err != nil {
			return err
		}
		// Its connections' upstream keys are enabled again.
		if _, err := s.Backstop.syncApp(ctx, tx, appID); err != nil {
			return err
		}
		if err := s.Events.app(ctx, tx, appID, wattfare.EventAppUnsuspended); err != nil {
			return err
		}
		return audit(ctx, tx, adminID, "app.unsuspend", "app", appID, nil)
	})
	return a, err
}

// CodePropagationPending is the code of the error that a write which stops
// spending (a revoke, a suspension, a lowered cap) returns together with its
// committed result when data-plane leases in its scope were still open after
// the wait. The write stands and must be shown as done; what is pending is
// only that some data-plane process has not yet surrendered its lease.
// Metadata "stopsBy" (RFC 3339) is when the last of those leases expires.
// Grants refuse a revoked connection and a suspended app, so their leases
// cannot be renewed and by then no process admits in scope; a lease can be
// renewed through another key of the app, so for a revoked key stopsBy is
// only the current expiry.
const CodePropagationPending = wattfare.EPROPAGATIONPENDING

// openLeases returns the ids of the leases in scope that can still admit,
// read in the writing transaction after its update. A grant that checked
// the updated row (FOR SHARE) committed before the update could proceed, so
// its lease is here; a grant after the commit sees the change. Leases
// granted afterwards for what the write left allowed (another key of the
// app, the connection under its new cap) are not waited for.
func openLeases(ctx context.Context, tx pgx.Tx, scope LeaseScope) ([]string, error) {
	ids, err := queries.OpenLeaseIDsInScope(ctx, tx, sqlc.OpenLeaseIDsInScopeParams{
		ConnectionID: scope.ConnectionID, AppID: scope.AppID, Mode: string(scope.Mode),
	})
	if err != nil {
		return nil, fmt.Errorf("open leases: %w", interpretError(err))
	}
	return ids, nil
}

// awaitLeases waits, at most wait, until none of the leases ids (from
// openLeases) can admit: each is surrendered, or expired. It is called
// after the write committed, so it never reports a failure of the write:
// when some are still open at the end of the wait, it returns a
// CodePropagationPending error saying when they expire.
func awaitLeases(ctx context.Context, db *pgxpool.Pool, wait time.Duration, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if wait <= 0 {
		wait = 15 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b := backoff.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	for {
		open, err := queries.OpenLeaseExpiries(wctx, db, ids)
		if err == nil && len(open) == 0 {
			return nil
		}
		if err == nil {
			select {
			case <-wctx.Done():
			case <-time.After(b.Next()):
				continue
			}
		}
		// The wait is over (or the database failed). Tell the caller when
		// the leases still open expire; the caller may have gone, and the
		// answer is still owed to the log.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		open, err = queries.OpenLeaseExpiries(qctx, db, ids)
		cancel()
		switch {
		case err != nil:
			return &wattfare.Error{Code: CodePropagationPending,
				Message: "done; Wattfare could not yet confirm that every data-plane process has stopped admitting requests for it"}
		case len(open) == 0: // the last lease closed meanwhile
			return nil
		}
		at := slices.MaxFunc(open, time.Time.Compare).UTC().Truncate(time.Millisecond)
		return &wattfare.Error{Code: CodePropagationPending,
			Message:  fmt.Sprintf("done; data-plane processes that have not yet heard of it stop admitting requests for it by %s", at.Format(time.RFC3339)),
			Metadata: map[string]any{"stopsBy": at.Format(time.RFC3339Nano)}}
	}
}
