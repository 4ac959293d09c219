package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/internal/backoff"
	"github.com/wattfare/wattfare/internal/metric"
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

	connected         atomic.Bool
	connects, notices atomic.Uint64
	lag               *metric.Histogram
	lagOnce           sync.Once
}

// ListenerStats is a reading of a listener, for metrics and readiness.
type ListenerStats struct {
	Connected     bool   // LISTEN is in place now
	Connects      uint64 // connections made (the first and every reconnection)
	Notifications uint64
	// Lag is the time from a change's write to its delivery here.
	Lag *metric.Histogram
}

// Stats reads the listener's figures.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Connected: l.connected.Load(), Connects: l.connects.Load(), Notifications: l.notices.Load(), Lag: l.lagHistogram()}
}

func (l *Listener) lagHistogram() *metric.Histogram {
	l.lagOnce.Do(func() { l.lag = metric.NewLatency() })
	return l.lag
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
			l.connected.Store(false)
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
	h.l.connects.Add(1)
	h.l.connected.Store(true)
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
	h.l.notices.Add(1)
	if ev.At > 0 {
		h.l.lagHistogram().ObserveDuration(time.Since(time.UnixMicro(ev.At)))
	}
	if h.l.OnChange != nil {
		h.l.OnChange(ev)
	}
	return nil
}
