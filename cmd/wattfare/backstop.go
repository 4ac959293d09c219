package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare/internal/keyring"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/openrouter"
	"github.com/wattfare/wattfare/postgres"
)

// The upstream backstop (DESIGN.md): with WATTFARE_OPENROUTER_MANAGEMENT_KEY
// set, each live connection gets its own OpenRouter key, limited to its
// cap, whose secret is sealed with WATTFARE_ENCRYPTION_KEY. The control
// plane's jobs provision and maintain the keys; the data plane opens them.

func init() {
	jobSetups = append(jobSetups, func(ctx context.Context, pool *pgxpool.Pool, reg *jobs.Registry) error {
		mgmt, ring, err := backstopFromEnv()
		if err != nil || mgmt == "" {
			return err
		}
		deleteAfter := 24 * time.Hour
		if v := os.Getenv("WATTFARE_UPSTREAM_KEY_DELETE_AFTER"); v != "" {
			if deleteAfter, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("WATTFARE_UPSTREAM_KEY_DELETE_AFTER: %w", err)
			}
		}
		(&jobs.UpstreamKeys{
			Store:       &postgres.UpstreamKeys{DB: pool},
			OpenRouter:  &openrouter.Keys{BaseURL: openRouterBaseURL(), ManagementKey: mgmt},
			Ring:        ring,
			DeleteAfter: deleteAfter,
		}).Register(reg)
		return nil
	})
}

// openRouterBaseURL is OpenRouter's API root, WATTFARE_OPENROUTER_BASE_URL.
func openRouterBaseURL() string {
	return envOr("WATTFARE_OPENROUTER_BASE_URL", openrouter.DefaultBaseURL)
}

// backstopFromEnv reads the backstop's configuration: the management key
// ("" when the backstop is off) and the keyring that seals and opens the
// keys. A management key without an encryption key is refused: the keys'
// secrets would have nowhere safe to live.
func backstopFromEnv() (string, *keyring.Keyring, error) {
	mgmt := os.Getenv("WATTFARE_OPENROUTER_MANAGEMENT_KEY")
	enc := os.Getenv("WATTFARE_ENCRYPTION_KEY")
	if mgmt == "" {
		if enc == "" {
			return "", nil, nil
		}
		ring, err := keyring.Parse(enc)
		if err != nil {
			return "", nil, fmt.Errorf("WATTFARE_ENCRYPTION_KEY: %w", err)
		}
		return "", ring, nil
	}
	if enc == "" {
		return "", nil, errors.New("WATTFARE_OPENROUTER_MANAGEMENT_KEY is set but WATTFARE_ENCRYPTION_KEY is not: set 32 random bytes in base64 (openssl rand -base64 32) to seal the connections' OpenRouter keys")
	}
	ring, err := keyring.Parse(enc)
	if err != nil {
		return "", nil, fmt.Errorf("WATTFARE_ENCRYPTION_KEY: %w", err)
	}
	return mgmt, ring, nil
}

// backstopOn reports whether the backstop is configured.
func backstopOn() bool { return os.Getenv("WATTFARE_OPENROUTER_MANAGEMENT_KEY") != "" }
