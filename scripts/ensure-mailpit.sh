#!/usr/bin/env bash
# Installs mailpit (a local SMTP server with a web inbox: `wattfare dev`
# sends budget alert emails to it) into $(go env GOPATH)/bin unless that
# version is there. Never fails: without mailpit, `make dev` runs with
# alerts shown on the budget page only.
set -uo pipefail
VERSION=v1.33.1
bin="$(go env GOPATH)/bin/mailpit"
if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
echo "ensure-mailpit: installing mailpit ${VERSION}" >&2
if GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@${VERSION}"; then
  echo "$VERSION" > "$bin.version"
else
  echo "ensure-mailpit: could not install mailpit; alert emails are shown on the budget page only" >&2
fi
exit 0
