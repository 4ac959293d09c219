// Package wattfarejs embeds Wattfare's browser client script, connect.js,
// which the control plane serves at /v1/connect.js for apps to load.
package wattfarejs

import _ "embed"

// Connect is the source of connect.js.
//
//go:embed connect.js
var Connect []byte
