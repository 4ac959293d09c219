package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

func TestListener(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	events := make(chan wattfare.ChangeEvent, 16)
	reconnects := make(chan struct{}, 16)
	l := &postgres.Listener{
		URL:         url,
		OnChange:    func(ev wattfare.ChangeEvent) { events <- ev },
		OnReconnect: func() { reconnects <- struct{}{} },
		MaxBackoff:  100 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	wait("first connect", reconnects)

	t.Run("OK", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `UPDATE models SET prompt_price = prompt_price + 1 WHERE id = 'sandbox/echo'`); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.Entity != wattfare.EntityModel || ev.ID != "sandbox/echo" || ev.Version != 2 {
				t.Errorf("event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	})

	t.Run("Reconnect", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'listen%'`); err != nil {
			t.Fatal(err)
		}
		wait("reconnect", reconnects)
		if _, err := pool.Exec(ctx, `UPDATE models SET enabled = false WHERE id = 'sandbox/pricey'`); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.ID != "sandbox/pricey" {
				t.Errorf("event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event after reconnect")
		}
	})
}
