package controlplane

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/postgres"
)

// WithPostgres returns cfg serving the postgres services on pool, wired as
// cmd/wattfare wires them: Wattfare's own origins (cfg's PublicURL and
// DataURL) reserved, and writes that stop spending waiting at most
// leaseWait for the data plane (postgres's default when zero).
func WithPostgres(cfg Config, pool *pgxpool.Pool, leaseWait time.Duration) Config {
	cfg.Services = postgres.NewServices(pool, postgres.ServiceOptions{
		LeaseWait:       leaseWait,
		ReservedOrigins: OwnOrigins(cfg.PublicURL, cfg.DataURL),
	})
	return cfg
}
