#!/usr/bin/env bash
# Builds the web app into web/dist/app, which `go build` embeds. Installs
# Node packages when node_modules is missing or older than package-lock.json,
# and rebuilds only when a source is newer than the last build.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  echo "build-web: npm is missing; install Node.js 20+ (apt-get install -y nodejs npm)" >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "build-web: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# node_modules is its own (empty) Go module, so `go list ./...` and
# `go vet ./...` never descend into packages that ship .go files.
[ -f node_modules/go.mod ] || printf 'module ignore\n' > node_modules/go.mod # also written by postinstall

stamp=dist/app/index.html
if [ -f "$stamp" ] && [ -z "$(find src index.html vite.config.ts tsconfig.json package.json package-lock.json ../schema.graphqls ../graph/schema -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  echo "build-web: dist/app is up to date" >&2
  exit 0
fi
echo "build-web: vite build" >&2
npm run --silent build
