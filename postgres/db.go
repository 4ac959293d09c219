// Package postgres implements Wattfare's domain services on PostgreSQL with
// pgx: migrations, accounts, apps, keys, connections, the spend ledger and
// change notifications.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/migrations"
)

// DefaultURL is the database cmd/wattfare uses when DATABASE_URL is unset:
// the local Postgres, database "wattfare". The password is ignored by trust
// auth and matches the one scripts/ensure-postgres.sh sets where auth is
// not trust. The package itself reads no environment: every function takes
// the URL.
const DefaultURL = "postgres://postgres:postgres@127.0.0.1:5432/wattfare?sslmode=disable"

// Open connects a pool to databaseURL and checks that it answers.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in databaseURL if it does not
// exist, connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("database url names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect to create database: %w", err)
	}
	defer conn.Close(ctx)
	exists, err := queries.DatabaseExists(ctx, conn, name)
	if err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if exists {
		return nil
	}
	// DDL naming an identifier: not a query sqlc can generate.
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies every pending migration in migrations.FS, under tern's
// advisory lock so that concurrent starters apply each once, and then every
// SQL function in migrations.FunctionsFS.
func Migrate(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect to migrate: %w", err)
	}
	defer conn.Close(ctx)
	return MigrateConn(ctx, conn)
}

// MigrateConn applies pending migrations on conn, then the SQL functions.
func MigrateConn(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, "wattfare_schema_version")
	if err != nil {
		return fmt.Errorf("new migrator: %w", err)
	}
	if err := m.LoadMigrations(fs.FS(migrations.FS)); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := MigrateRiver(ctx, conn); err != nil {
		return err
	}
	return ApplyFunctions(ctx, conn)
}

// riverLock serialises MigrateRiver across starters, as tern's own lock does
// for the numbered migrations.
const riverLock = 4242003

// MigrateRiver applies river's own schema (its job table, leader and queue
// tables: the durable jobs of package jobs) up to the version this build of
// river wants. River's migrations are versioned apart from ours
// (river_migration), so upgrading river upgrades its schema on the next
// `wattfare migrate` without a numbered migration of ours. Each version runs
// in a transaction of its own (one adds an enum value that the next uses,
// which Postgres refuses within one transaction), under a lock so that
// concurrent starters apply each once.
func MigrateRiver(ctx context.Context, conn *pgx.Conn) error {
	m, err := rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	for {
		var applied int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := queries.AdvisoryXactLock(ctx, tx, riverLock); err != nil {
				return fmt.Errorf("lock river migrations: %w", err)
			}
			res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{MaxSteps: 1})
			if err != nil {
				return fmt.Errorf("migrate river: %w", err)
			}
			applied = len(res.Versions)
			return nil
		})
		if err != nil || applied == 0 {
			return err
		}
	}
}

// RiverSchemaVersion is the newest river migration this build applies;
// pgtest names its template after it.
func RiverSchemaVersion() int {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return 0
	}
	all := m.AllVersions()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// functionsLock serialises ApplyFunctions across starters: two concurrent
// CREATE OR REPLACE of one function fail with "tuple concurrently updated".
const functionsLock = 4242002

// ApplyFunctions (re)defines every function of migrations.FunctionsFS, in
// name order and in one transaction. It runs after the numbered migrations
// every time, so a function's file, not the migration that last redefined
// it, is what the database runs.
func ApplyFunctions(ctx context.Context, conn *pgx.Conn) error {
	fns, err := migrations.Functions()
	if err != nil {
		return fmt.Errorf("load functions: %w", err)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := queries.AdvisoryXactLock(ctx, tx, functionsLock); err != nil {
			return fmt.Errorf("lock functions: %w", err)
		}
		for _, f := range fns {
			// The simple protocol, so that a file may hold more than one
			// statement.
			if _, err := tx.Exec(ctx, f.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("apply function %s: %w", f.Name, err)
			}
		}
		return nil
	})
}

// interpretError maps driver errors to domain errors once, at this edge: a
// missing row is NOT_FOUND (notFound, when given, in place of the generic
// one: "no such key"), a unique violation CONFLICT, a failed check, an
// overlong or a malformed value INVALID_INPUT. Anything else is returned as
// it is, for the caller to wrap with context; callers of the store see it
// as an internal error. Every query's error goes through it, so no method
// tests for pgx.ErrNoRows itself.
func interpretError(err error, notFound ...error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if len(notFound) > 0 {
			return notFound[0]
		}
		return wattfare.Errorf(wattfare.ENOTFOUND, "not found")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return wattfare.Errorf(wattfare.ECONFLICT, "already exists")
		case "23514", "22001", "22P02":
			return wattfare.Errorf(wattfare.EINVALID, "invalid value")
		}
	}
	return err
}

// isNotFound reports whether interpretError(err) is NOT_FOUND: for the
// queries where a missing row is an answer, not a failure.
func isNotFound(err error) bool {
	return wattfare.ErrorCode(interpretError(err)) == wattfare.ENOTFOUND
}

// pgDate is t's UTC day as a Postgres date: every date of the schema (a
// period, a usage day) is a UTC day.
func pgDate(t time.Time) pgtype.Date { return pgtype.Date{Time: t.UTC(), Valid: true} }
