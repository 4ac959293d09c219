package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/backoff"
)

// Listener delivers wattfare_changes notifications to a data-plane process.
// It listens on a connection of its own (never the pool's), reconnects with
// backoff, and calls OnReconnect after every (re)connection once LISTEN is in
// place: notifications sent while it was away are lost, so the process must
// drop its caches and re-validate its leases then.
type Listener struct {
	URL         string
	OnChange    func(wattfare.ChangeEvent)
	OnReconnect func()
	Logger      *slog.Logger
	// MaxBackoff bounds the wait between reconnection attempts (default 2 s).
	MaxBackoff time.Duration
}

// Run listens until ctx ends.
func (l *Listener) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	maxBackoff := l.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 2 * time.Second
	}
	// The first attempt after a drop goes at once; the next ones back off,
	// with jitter, so that every process a Postgres restart cut off does
	// not reconnect at the same instant.
	wait := backoff.Backoff{Initial: 100 * time.Millisecond, Max: maxBackoff}
	retrying := false
	pl := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			if retrying {
				if err := wait.Wait(ctx); err != nil {
					return nil, err
				}
			}
			retrying = true
			return pgx.Connect(ctx, l.URL)
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				log.Warn("change listener", "err", err)
			}
		},
		ReconnectDelay: -1, // Connect backs off itself
	}
	pl.Handle(wattfare.NotifyChannel, &changeHandler{l: l, log: log, connected: func() { retrying = false; wait.Reset() }})
	return pl.Listen(ctx)
}

type changeHandler struct {
	l         *Listener
	log       *slog.Logger
	connected func()
}

// HandleBacklog runs once LISTEN is in place on a new connection.
func (h *changeHandler) HandleBacklog(ctx context.Context, channel string, conn *pgx.Conn) error {
	h.connected()
	if h.l.OnReconnect != nil {
		h.l.OnReconnect()
	}
	return nil
}

func (h *changeHandler) HandleNotification(ctx context.Context, n *pgconn.Notification, conn *pgx.Conn) error {
	var ev wattfare.ChangeEvent
	if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
		h.log.Warn("change listener: bad payload", "err", err)
		return nil
	}
	if h.l.OnChange != nil {
		h.l.OnChange(ev)
	}
	return nil
}
