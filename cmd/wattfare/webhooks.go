package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
)

// Webhooks to apps: every control-plane process works the delivery jobs.
// Endpoints' signing secrets are sealed with WATTFARE_ENCRYPTION_KEY; without
// it events are still recorded, but no endpoint can be created (and `wattfare
// dev` makes a key of its own, kept in .wattfare/).

func init() {
	jobSetups = append(jobSetups, func(ctx context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error {
		ring, err := webhookKeyring(false)
		if err != nil {
			return err
		}
		w := &jobs.Webhooks{Store: &postgres.Webhooks{DB: pool, Ring: ring}, Ring: ring}
		if v := os.Getenv("WATTFARE_WEBHOOK_RETRY_BASE"); v != "" {
			if w.RetryBase, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("WATTFARE_WEBHOOK_RETRY_BASE: %w", err)
			}
		}
		if v := os.Getenv("WATTFARE_WEBHOOK_DISPATCH_INTERVAL"); v != "" {
			if w.DispatchEvery, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("WATTFARE_WEBHOOK_DISPATCH_INTERVAL: %w", err)
			}
		}
		w.Register(reg)
		if err := metricsRegistry.Register(&webhookCollector{w: w}); err != nil {
			slog.Warn("metrics: webhooks already registered", "err", err)
		}
		return nil
	})
}

// webhookKeyring is the keyring that seals webhook signing secrets:
// WATTFARE_ENCRYPTION_KEY, or under `wattfare dev` (dev) without it a key
// made once and kept in .wattfare/dev-encryption.key. Nil when there is
// none: endpoints cannot be created, and the control plane says why.
func webhookKeyring(dev bool) (*keyring.Keyring, error) {
	if enc := os.Getenv("WATTFARE_ENCRYPTION_KEY"); enc != "" {
		ring, err := keyring.Parse(enc)
		if err != nil {
			return nil, fmt.Errorf("WATTFARE_ENCRYPTION_KEY: %w", err)
		}
		return ring, nil
	}
	if !dev && devKeyring == nil {
		return nil, nil
	}
	if devKeyring != nil {
		return devKeyring, nil
	}
	path := filepath.Join(".wattfare", "dev-encryption.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var k [32]byte
		rand.Read(k[:])
		b = []byte(base64.StdEncoding.EncodeToString(k[:]))
		if err := os.MkdirAll(".wattfare", 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	ring, err := keyring.Parse("dev:" + strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	devKeyring = ring
	return ring, nil
}

// devKeyring is `wattfare dev`'s own key once made, for the jobs too.
var devKeyring *keyring.Keyring

var dWebhooks = prometheus.NewDesc("wattfare_webhook_deliveries_total",
	"Webhook delivery attempts by outcome: ok (2xx), failed (retried later), gave_up (the last attempt failed: the endpoint was disabled), disabled (not sent: the endpoint was disabled or deleted).",
	[]string{"outcome"}, nil)

type webhookCollector struct{ w *jobs.Webhooks }

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dWebhooks }

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	o := &c.w.Outcomes
	ch <- counter(dWebhooks, o.OK.Load(), "ok")
	ch <- counter(dWebhooks, o.Failed.Load(), "failed")
	ch <- counter(dWebhooks, o.GaveUp.Load(), "gave_up")
	ch <- counter(dWebhooks, o.Disabled.Load(), "disabled")
}
