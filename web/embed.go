// Package web embeds Wattfare's built web app (the budget page, the consent
// popup, and later the developer dashboard and admin console). The React
// sources live beside this file; scripts/build-web.sh builds them into
// dist/app, which the control plane serves.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// App returns the built app, rooted at its index.html, and whether it was
// built at all: a binary compiled before `make web` has only dist/.gitkeep.
func App() (fs.FS, bool) {
	sub, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, false
	}
	return sub, true
}
