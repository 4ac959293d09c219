package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/openrouter"
	"github.com/wattfare/wattfare/postgres"
)

func init() {
	register("catalog", "sync the model catalog: catalog sync [--snapshot[=FILE]]", runCatalog)
}

// openRouterURL is where the catalog's models come from: WATTFARE_OPENROUTER_URL,
// else https://openrouter.ai.
func openRouterURL() string { return envOr("WATTFARE_OPENROUTER_URL", openrouter.DefaultURL) }

// openRouterConfigured says whether this install talks to OpenRouter, and
// so syncs its catalog periodically: an API key, or an explicit URL.
func openRouterConfigured() bool {
	return os.Getenv("WATTFARE_OPENROUTER_API_KEY") != "" || os.Getenv("WATTFARE_OPENROUTER_URL") != ""
}

func newSyncer(pool *pgxpool.Pool) *openrouter.Syncer {
	return &openrouter.Syncer{Models: &postgres.Models{DB: pool}, Client: &openrouter.Client{BaseURL: openRouterURL()}}
}

// runCatalog is `wattfare catalog sync`: it syncs the catalog from
// OpenRouter's GET /api/v1/models, or with --snapshot from the embedded
// snapshot (or a file in the same shape), and prints the diff.
func runCatalog(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "sync" {
		return fmt.Errorf("usage: wattfare catalog sync [--snapshot[=FILE]]")
	}
	fs := flag.NewFlagSet("catalog sync", flag.ContinueOnError)
	var snapshot snapshotFlag
	fs.Var(&snapshot, "snapshot", "sync from the embedded snapshot, or from FILE in OpenRouter's /api/v1/models shape")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, databaseURL())
	if err != nil {
		return err
	}
	defer pool.Close()
	s := newSyncer(pool)
	var res wattfare.CatalogSync
	switch {
	case !snapshot.set:
		res, err = s.Sync(ctx, "")
	case snapshot.file == "":
		res, err = s.SyncDocument(ctx, "", openrouter.SnapshotSource(), openrouter.Snapshot())
	default:
		body, rerr := os.ReadFile(snapshot.file)
		if rerr != nil {
			return rerr
		}
		res, err = s.SyncDocument(ctx, "", snapshot.file, body)
	}
	if err != nil {
		return err
	}
	printSync(res)
	return nil
}

type snapshotFlag struct {
	set  bool
	file string
}

func (f *snapshotFlag) String() string   { return f.file }
func (f *snapshotFlag) IsBoolFlag() bool { return true }
func (f *snapshotFlag) Set(v string) error {
	f.set = true
	if v != "true" {
		f.file = v
	}
	return nil
}

func printSync(r wattfare.CatalogSync) {
	fmt.Printf("catalog synced from %s: %d listed, %d added, %d changed, %d disabled\n", r.Source, r.Listed, r.Added, r.Changed, r.Disabled)
	for _, c := range r.Changes {
		line := "  " + c.Kind + " " + c.ModelID
		if c.Field != "" {
			line += " " + c.Field
		}
		if c.Old != "" || c.New != "" {
			line += ": " + strings.TrimSpace(c.Old+" → "+c.New)
		}
		fmt.Println(line)
	}
}

// startCatalog gives a fresh install the snapshot's models, then, when
// OpenRouter is configured, syncs with it every WATTFARE_CATALOG_SYNC_INTERVAL
// (1h by default) until ctx ends. A failed sync is logged and retried at
// the next tick: the catalog stays as it was.
func startCatalog(ctx context.Context, pool *pgxpool.Pool) error {
	s := newSyncer(pool)
	seeded, err := s.SeedFromSnapshot(ctx)
	if err != nil {
		return err
	}
	if seeded {
		slog.Info("catalog seeded from the embedded snapshot", "source", openrouter.SnapshotSource())
	}
	if !openRouterConfigured() {
		return nil
	}
	every, err := time.ParseDuration(envOr("WATTFARE_CATALOG_SYNC_INTERVAL", "1h"))
	if err != nil || every < time.Minute {
		return fmt.Errorf("WATTFARE_CATALOG_SYNC_INTERVAL: want a duration of at least 1m, got %q", os.Getenv("WATTFARE_CATALOG_SYNC_INTERVAL"))
	}
	go s.Run(ctx, every)
	return nil
}
