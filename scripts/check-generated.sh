#!/usr/bin/env bash
# Fails when committed generated code is stale: regenerates, then asks git
# whether anything changed. Also fails on unformatted Go.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "check-generated: gofmt would change:"; echo "$unformatted"; exit 1
fi
bash scripts/generate.sh
# The browser global the control plane embeds (sdk/js/browser/connect.js) is
# built from sdk/js/src: build it afresh over the committed copy, and let the
# diff below catch a stale one.
if [ -f sdk/js/tsdown.browser.config.ts ]; then
  (cd sdk/js && { [ -x node_modules/.bin/tsdown ] || npm ci --no-audit --no-fund --loglevel=error; } \
    && node_modules/.bin/tsdown -c tsdown.browser.config.ts --logLevel error)
fi
if ! git diff --exit-code --stat -- . ':!web/package-lock.json'; then
  echo "check-generated: generated code is stale; run 'make generate' and commit" >&2
  exit 1
fi
echo "check-generated: generated code is fresh"
