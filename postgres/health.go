package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/migrations"
)

// SchemaVersion reports the numbered migration the database is at and the
// newest one this build embeds: a process whose database is behind is not
// ready (its queries may name columns that do not exist yet).
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (have, want int32, err error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		if v, err := strconv.Atoi(n); ok && err == nil && int32(v) > want {
			want = int32(v)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT version FROM wattfare_schema_version`).Scan(&have); err != nil {
		return 0, want, fmt.Errorf("read schema version: %w", err)
	}
	return have, want, nil
}
