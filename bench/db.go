package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// benchDB migrates the bench database and seeds one account, app, test key
// and connection, returning the database's URL and the secret key. With
// dbURL empty it recreates database wattfare_bench on the Postgres server
// that server names.
func benchDB(ctx context.Context, dbURL, server string) (string, string, error) {
	if dbURL == "" {
		base := server // a URL of any database on the server
		i := strings.LastIndex(base, "/")
		q := ""
		if j := strings.IndexByte(base[i:], '?'); j >= 0 {
			q = base[i+j:]
		}
		admin := base[:i] + "/postgres" + q
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return "", "", err
		}
		conn.Exec(ctx, "DROP DATABASE IF EXISTS wattfare_bench WITH (FORCE)")
		conn.Close(ctx)
		dbURL = base[:i] + "/wattfare_bench" + q
	}
	if err := postgres.EnsureDatabase(ctx, dbURL); err != nil {
		return "", "", err
	}
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		return "", "", err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(ctx)
	app := wattfare.NewAppID().String()
	sk := wattfare.NewSecretKey(wattfare.ModeTest)
	h := wattfare.HashSecretKey(sk.String())
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_bench', 'bench@example.com', 'x')`, nil},
		{`INSERT INTO wallets (account_id, mode, credits) VALUES ('acct_bench', 'test', $1)`, []any{int64(wattfare.USD(1_000_000))}},
		{`INSERT INTO apps (id, owner_id, name) VALUES ($1, 'acct_bench', 'Bench')`, []any{app}},
		{`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'test', $3, $4, 'x')`, []any{sk.ID.String(), app, h[:], []byte(sk.PublicKey())}},
		{`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ('conn_bench', $1, 'test', 'bench_user', 'acct_bench', $2)`, []any{app, int64(wattfare.USD(1_000_000))}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			return "", "", fmt.Errorf("seed: %w", err)
		}
	}
	return dbURL, sk.String(), nil
}

// settlements counts the usage events the data plane committed, and the
// connection periods captured beyond their connection's monthly cap.
func settlements(ctx context.Context, dbURL string) (settled, overshoot int64, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	conn.QueryRow(ctx, `SELECT count(*) FROM usage_events`).Scan(&settled)
	conn.QueryRow(ctx, `SELECT count(*) FROM connection_periods p JOIN connections c ON c.id = p.connection_id WHERE p.captured > c.monthly_cap`).Scan(&overshoot)
	return settled, overshoot, nil
}
