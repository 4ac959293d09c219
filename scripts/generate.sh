#!/usr/bin/env bash
# Regenerates every generated file: gqlgen's Go code and the web app's GraphQL types.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f gqlgen.yml ]; then go tool gqlgen generate; fi
if [ -f web/package.json ] && grep -q '"codegen"' web/package.json; then
  (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent codegen)
fi
