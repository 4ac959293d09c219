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
if ! git diff --exit-code --stat -- . ':!web/package-lock.json'; then
  echo "check-generated: generated code is stale; run 'make generate' and commit" >&2
  exit 1
fi
echo "check-generated: generated code is fresh"
