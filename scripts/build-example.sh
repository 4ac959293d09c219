#!/usr/bin/env bash
# Builds the demo app that `wattfare dev` serves: examples/acme-chat with its
# wattfare.patch applied, in build/acme-chat. Does nothing when no input is
# newer than the last build; otherwise copies the example afresh, applies the
# patch, installs Node packages when node_modules is missing or older than
# the example's package files, the patch or the wattfare package, and builds.
set -euo pipefail
cd "$(dirname "$0")/.."
src=examples/acme-chat
out=build/acme-chat
sdk=sdk/js

if ! command -v npm >/dev/null 2>&1; then
  echo "build-example: npm is missing; install Node.js 20+ (apt-get install -y nodejs npm)" >&2
  exit 1
fi
# node_modules are their own (empty) Go modules, so `go vet ./...` never
# descends into packages that ship .go files.
[ ! -d "$src/node_modules" ] || [ -f "$src/node_modules/go.mod" ] || printf 'module ignore\n' > "$src/node_modules/go.mod"

if [ ! -f "$sdk/package.json" ]; then
  echo "build-example: $sdk is not the wattfare npm package yet (no package.json)" >&2
  exit 1
fi
# The package, built as its own scripts build it: npm ci when its
# node_modules is stale, the build when a source is newer than dist.
if [ ! -f "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
  echo "build-example: npm ci in $sdk" >&2
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
fi
[ ! -d "$sdk/node_modules" ] || [ -f "$sdk/node_modules/go.mod" ] || printf 'module ignore\n' > "$sdk/node_modules/go.mod"
if [ ! -d "$sdk/dist" ] || [ -n "$(find "$sdk/src" "$sdk"/package*.json "$sdk"/tsconfig.json "$sdk"/tsdown*.ts -newer "$sdk/dist" -print -quit 2>/dev/null)" ]; then
  echo "build-example: npm run build in $sdk" >&2
  (cd "$sdk" && npm run --silent build)
  touch "$sdk/dist"
fi

inputs=("$src/src" "$src/server" "$src/index.html" "$src/vite.config.ts" "$src/tsconfig.json" "$src/package.json"
  "$src/package-lock.json" "$src/wattfare.patch" "$sdk/package.json" "$sdk/dist" scripts/build-example.sh)
newer() { [ ! -e "$1" ] || [ -n "$(find "${inputs[@]}" -newer "$1" -print -quit 2>/dev/null)" ]; }

stamp=$out/dist/server/index.js
if ! newer "$stamp"; then
  echo "build-example: $out is up to date" >&2
  exit 0
fi

mkdir -p "$out"
find "$out" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar -C "$src" --exclude=./node_modules --exclude=./dist -cf - . | tar -C "$out" -xf -
# The copy lies inside this repository: stop git from finding it, or paths
# would be taken from the repository's root.
(cd "$out" && GIT_CEILING_DIRECTORIES="$(cd .. && pwd)" git apply wattfare.patch)

if newer "$out/node_modules/.package-lock.json"; then
  echo "build-example: npm install (with the wattfare package from $sdk)" >&2
  # --install-links installs the package as npm would from the registry (a
  # copy, its dependencies beside the app's), not a symlink into sdk/js, so
  # the app and the package share one React and one AI SDK.
  # npm keeps an installed copy of the same version: drop it to take the new build.
  rm -rf "$out/node_modules/wattfare"
  (cd "$out" && npm install --install-links --no-audit --no-fund --loglevel=error)
  # A build of sdk/js running at the same time (its tsdown cleans dist
  # first) leaves a partial copy: refuse it rather than build on it.
  for f in server.mjs server.d.mts react.mjs react.d.mts; do
    if [ ! -f "$out/node_modules/wattfare/dist/$f" ]; then
      rm -rf "$out/node_modules/wattfare"
      echo "build-example: the installed wattfare package lacks dist/$f (was sdk/js being rebuilt?); run again" >&2
      exit 1
    fi
  done
  touch "$out/node_modules/.package-lock.json"
fi
[ -f "$out/node_modules/go.mod" ] || printf 'module ignore\n' > "$out/node_modules/go.mod"

echo "build-example: tsc --noEmit and vite build" >&2
# The patched app type-checks against the package's own .d.ts, as a
# developer's editor would check it.
(cd "$out" && npm run --silent typecheck && npm run --silent build)
