package openrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wattfare/wattfare"
)

// Upstream is the catalog upstream whose models a sync manages.
const Upstream = "openrouter"

// Syncer keeps the catalog's OpenRouter models in step with OpenRouter's
// list, or with the embedded snapshot where OpenRouter is out of reach.
type Syncer struct {
	Models wattfare.ModelService
	Client *Client
	Now    func() time.Time
	Log    *slog.Logger
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sync reads OpenRouter's model list and applies it. When the list cannot
// be read or is not a model list, the catalog is left as it was, the
// failure is recorded for the admin console, and the error (an
// EUnavailable *wattfare.Error saying why) is returned. actorID is the
// admin who asked, or "" for the periodic sync.
func (s *Syncer) Sync(ctx context.Context, actorID string) (wattfare.CatalogSync, error) {
	started := s.now()
	entries, url, err := s.Client.Models(ctx)
	if err != nil {
		rec, rerr := s.Models.RecordSyncFailure(ctx, actorID, url, started, err)
		if rerr != nil {
			return rec, errors.Join(err, rerr)
		}
		return rec, wattfare.Errorf(wattfare.EUnavailable, "catalog not synced, nothing changed: %v", err)
	}
	return s.Models.Sync(ctx, actorID, Upstream, url, started, entries)
}

// SyncDocument applies a model list in OpenRouter's shape (the embedded
// Snapshot, or a file), recording source as where it came from.
func (s *Syncer) SyncDocument(ctx context.Context, actorID, source string, body []byte) (wattfare.CatalogSync, error) {
	started := s.now()
	entries, err := ParseModels(body)
	if err != nil {
		rec, rerr := s.Models.RecordSyncFailure(ctx, actorID, source, started, err)
		if rerr != nil {
			return rec, errors.Join(err, rerr)
		}
		return rec, wattfare.Errorf(wattfare.EInvalidRequest, "catalog not synced, nothing changed: %v", err)
	}
	return s.Models.Sync(ctx, actorID, Upstream, source, started, entries)
}

// SeedFromSnapshot applies the embedded snapshot when the catalog has
// never been synced, so a fresh or air-gapped install lists OpenRouter's
// models at once. It does nothing after any sync.
func (s *Syncer) SeedFromSnapshot(ctx context.Context) (bool, error) {
	last, err := s.Models.LastSync(ctx)
	if err != nil {
		return false, err
	}
	if last != nil {
		return false, nil
	}
	if _, err := s.SyncDocument(ctx, "", SnapshotSource(), Snapshot()); err != nil {
		return false, fmt.Errorf("seed catalog from snapshot: %w", err)
	}
	return true, nil
}

// Run syncs every interval until ctx ends, logging each result; a failed
// sync is retried at the next tick.
func (s *Syncer) Run(ctx context.Context, every time.Duration) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := s.Sync(ctx, "")
		if err != nil && ctx.Err() == nil {
			log.Warn("catalog sync failed", "err", err)
		} else if err == nil {
			log.Info("catalog synced", "source", res.Source, "listed", res.Listed, "added", res.Added, "changed", res.Changed, "disabled", res.Disabled)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
