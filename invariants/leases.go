package invariants

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/internal/backoff"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// AwaitLeasesReleased blocks until no lease in scope is both unreleased and
// unexpired, or ctx ends: data-plane processes surrender their leases when
// the change notification reaches them, and a process that never hears of it
// stops admitting when its lease expires. When this returns nil, no
// data-plane process can admit a new request in scope (DESIGN.md invariant
// 4). Revocations wait instead, after their transaction commits, for the
// leases open at their write (postgres's openLeases, awaitLeases).
func AwaitLeasesReleased(ctx context.Context, db *pgxpool.Pool, scope postgres.LeaseScope) error {
	arg := sqlc.CountOpenLeasesInScopeParams{ConnectionID: scope.ConnectionID, AppID: scope.AppID, Mode: string(scope.Mode)}
	wait := backoff.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	for {
		n, err := sqlc.New().CountOpenLeasesInScope(ctx, db, arg)
		if err != nil {
			return fmt.Errorf("await leases released: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := wait.Wait(ctx); err != nil {
			return fmt.Errorf("await leases released: %d still open: %w", n, err)
		}
	}
}
