// Package migrations embeds Wattfare's SQL migrations, applied in order by
// tern (`wattfare migrate`, and at the start of `wattfare dev`).
package migrations

import "embed"

// FS holds the numbered migration files.
//
//go:embed *.sql
var FS embed.FS
