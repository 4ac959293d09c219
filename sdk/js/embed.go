// Package wattfarejs embeds Wattfare's browser client script, which the
// control plane serves at /v1/connect.js for apps to load: the Wattfare
// global, built from src/browser.ts (the wattfare/client source) into
// browser/connect.js by tsdown.browser.config.ts. The build is committed, so
// that building Go needs no npm; scripts/check-generated.sh keeps it fresh.
package wattfarejs

import _ "embed"

// Connect is the source of connect.js.
//
//go:embed browser/connect.js
var Connect []byte
