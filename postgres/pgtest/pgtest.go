// Package pgtest gives tests their own real, migrated Postgres database.
//
// Each call clones a template database that is migrated once per schema
// version, so a fresh database costs one CREATE DATABASE. A database of its
// own (rather than a rolled-back transaction) lets tests see NOTIFY, which
// fires only on commit, and lets several processes share it.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/migrations"
	"github.com/wattfare/wattfare/postgres"
)

// ServerURL is the Postgres server tests use: WATTFARE_TEST_DATABASE_URL,
// else DATABASE_URL, else postgres.DefaultURL. Its database part is
// replaced. pgtest is test support, imported only by tests, so it may read
// the environment (boundaries_test.go checks both).
func ServerURL() string {
	for _, key := range []string{"WATTFARE_TEST_DATABASE_URL", "DATABASE_URL"} {
		if u := os.Getenv(key); u != "" {
			return u
		}
	}
	return postgres.DefaultURL
}

func withDB(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// schemaHash names the template after everything Migrate applies, so that
// an edited migration or function file, or a river upgrade, gets a template
// of its own.
func schemaHash() string {
	h := sha256.New()
	for _, fsys := range []fs.FS{migrations.FS, migrations.FunctionsFS} {
		fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := fs.ReadFile(fsys, path)
				h.Write([]byte(path))
				h.Write(b)
			}
			return nil
		})
	}
	fmt.Fprintf(h, "river:%d", postgres.RiverSchemaVersion())
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn, base string) (string, error) {
	tmpl := "wattfare_tmpl_" + schemaHash()
	// One builder at a time across every test process on this server.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(4242001)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(4242001)")
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return tmpl, nil
	}
	building := tmpl + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := postgres.Migrate(ctx, withDB(base, building)); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+tmpl); err != nil {
		return "", err
	}
	return tmpl, nil
}

// NewURL creates a fresh migrated database and returns its URL. The database
// is dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := ServerURL()
	admin, err := pgx.Connect(ctx, withDB(base, "postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect to Postgres at %s (run scripts/ensure-postgres.sh): %v", redact(base), err)
	}
	defer admin.Close(context.Background())
	tmpl, err := ensureTemplate(ctx, admin, base)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := strings.ToLower("wattfare_test_" + wattfare.NewID("")[:10])
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 50 {
			time.Sleep(100 * time.Millisecond) // another clone is copying the template
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, withDB(base, "postgres"))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDB(base, name)
}

// NewPool returns a pool on a fresh migrated database, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := NewURL(t)
	pool, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
