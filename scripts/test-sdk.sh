#!/usr/bin/env bash
# Tests the npm package `wattfare` (sdk/js) as its users get it: builds it
# with tsdown, runs its node tests against dist (the session vectors, the
# typed errors, the exports, wattfare/client and wattfare/react), type-checks
# a TypeScript consumer of all three entry points, lints the package with
# publint and attw, packs it, and — when a `wattfare dev` is running
# (WATTFARE_E2E_DATA_URL, WATTFARE_E2E_CONTROL_URL, WATTFARE_E2E_DEV_JSON, as
# scripts/test-web.sh sets them) — installs the tarball into the consumer
# apps on ai 6 / Node 20 and ai 7 / Node 22 and runs the live suites there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cd sdk/js

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test-sdk: npm ci in sdk/js" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# node_modules is its own (empty) Go module, so `go vet ./...` never
# descends into packages that ship .go files.
[ -f node_modules/go.mod ] || printf 'module ignore\n' > node_modules/go.mod

# Built when any source, config or test is newer than dist (the rule of
# scripts/build-example.sh, which installs the same dist into the example):
# the tests below check dist, and a stale one would pass them.
if [ ! -d dist ] || [ -n "$(find . -name node_modules -prune -o -path ./dist -prune -o -type f -newer dist -print -quit)" ]; then
  echo "test-sdk: npm run build (tsdown)" >&2
  npm run --silent build >/dev/null
  touch dist
fi
npx tsc --noEmit -p .

node --test test/*.test.mjs
# An app's TypeScript, checked against the package's own declarations.
npx tsc -p test/types
# publint: the package.json and files as published. attw: every entry's
# types resolve for ESM and CJS importers under node16 and bundlers; the
# node10 resolution (no exports support) is left out on purpose, because
# the package has no root entry and needs Node 20.
npx publint --strict
npx attw --pack . --profile node16

out="$root/build/sdk"
mkdir -p "$out"
tarball="$out/$(npm pack --silent --pack-destination "$out" | tail -1)"
echo "test-sdk: packed $tarball ($(wc -c <"$tarball") bytes)" >&2

if [ -n "${WATTFARE_E2E_DATA_URL:-}" ]; then
  bash test/live.sh "$tarball"
else
  echo "test-sdk: no wattfare dev (WATTFARE_E2E_DATA_URL unset): live suites not run; scripts/test-web.sh runs them" >&2
fi
