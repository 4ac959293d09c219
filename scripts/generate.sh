#!/usr/bin/env bash
# Regenerates every generated file: gqlgen's Go code and the web app's GraphQL types.
set -euo pipefail
cd "$(dirname "$0")/.."
# One generator at a time in a checkout (several people or agents may share it).
exec 9>"${TMPDIR:-/tmp}/wattfare-generate.lock"; flock 9
SQLC_VERSION=v1.31.1
if [ -f sqlc.yaml ]; then
  sqlc=$(go env GOPATH)/bin/sqlc
  if ! "$sqlc" version 2>/dev/null | grep -q "${SQLC_VERSION}"; then
    echo "generate: installing sqlc ${SQLC_VERSION} (cgo; the first build takes a few minutes)" >&2
    go install github.com/sqlc-dev/sqlc/cmd/sqlc@${SQLC_VERSION}
  fi
  "$sqlc" generate
fi
if [ -f gqlgen.yml ]; then go tool gqlgen generate; fi
if [ -f web/package.json ] && grep -q '"codegen"' web/package.json; then
  (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent codegen)
fi
