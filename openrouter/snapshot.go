package openrouter

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// snapshot is OpenRouter's model list as of the snapshot's source, in the
// shape of GET /api/v1/models plus a "source" object saying where it came
// from. scripts/catalog-snapshot.mjs writes it from the price table of the
// npm package @pydantic/genai-prices (MIT).
//
//go:embed snapshot.json
var snapshot []byte

// Snapshot returns the embedded model list, for ParseModels.
func Snapshot() []byte { return snapshot }

// SnapshotSource names the snapshot's origin, as syncs record it:
// "snapshot @pydantic/genai-prices@0.1.8 (2026-12-04)".
func SnapshotSource() string {
	var doc struct {
		Source struct {
			Package     string `json:"package"`
			Version     string `json:"version"`
			GeneratedAt string `json:"generated_at"`
		} `json:"source"`
	}
	if err := json.Unmarshal(snapshot, &doc); err != nil {
		return "snapshot"
	}
	return fmt.Sprintf("snapshot %s@%s (%s)", doc.Source.Package, doc.Source.Version, doc.Source.GeneratedAt)
}
