#!/usr/bin/env bash
# Browser tests: starts `bin/wattfare dev` on a fresh database and free ports,
# waits until the control plane, data plane and demo app answer, runs the
# tests in web/e2e (node --test + playwright-core + Debian Chromium), then
# stops it and drops the database. Screenshots and the server log go to
# build/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/ensure-chromium.sh
# stripe-mock: `wattfare dev` runs it, so that Add funds opens a Checkout
# Session there (web/e2e/payments.test.mjs).
bash scripts/ensure-stripe-mock.sh
# mailpit: `wattfare dev` sends budget alert emails to it (web/e2e/alerts.test.mjs).
bash scripts/ensure-mailpit.sh
bash scripts/build-web.sh
# The demo app `wattfare dev` serves: examples/acme-chat with its patch.
bash scripts/build-example.sh
# Always built: the web app is embedded, and an existing binary may predate
# the build above.
go build -o bin/wattfare ./cmd/wattfare

# wattfare.patch applies to the example, is +10 -2 at most, and is the README's quickstart.
node --test examples/acme-chat.test.mjs

artifacts="$root/build/artifacts"
mkdir -p "$artifacts"

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
base_url=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/wattfare?sslmode=disable}
db="wattfare_e2e_${RANDOM}${RANDOM}"
with_db() { node -e 'const u=new URL(process.argv[1]); u.pathname="/"+process.argv[2]; console.log(u.toString())' "$base_url" "$1"; }
e2e_url=$(with_db "$db")
admin_url=$(with_db postgres)

control=127.0.0.1:$(free_port)
data=127.0.0.1:$(free_port)
sandbox=127.0.0.1:$(free_port)
demo=127.0.0.1:$(free_port)
mail_smtp=127.0.0.1:$(free_port)
mail_web=127.0.0.1:$(free_port)

run_dir=$(mktemp -d)
# The server writes its log in this run's own directory (runs of this script
# at once would mix theirs in one file; a test reads the banner from it),
# copied to build/artifacts when the run ends.
log="$run_dir/wattfare-dev.log"
pid=""
cleanup() {
  status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  cp "$log" "$artifacts/wattfare-dev.log" 2>/dev/null || true
  rm -rf "$run_dir"
  if [ $status -ne 0 ]; then echo "test-web: failed; server log in $artifacts/wattfare-dev.log" >&2; fi
  exit $status
}
trap cleanup EXIT

# The demo app runs from this run's copy of its build (its packages shared):
# another build of build/acme-chat, by a run beside this one, replaces the
# files under a running server.
mkdir "$run_dir/acme-chat"
cp -R build/acme-chat/dist build/acme-chat/package.json "$run_dir/acme-chat/"
ln -s "$root/build/acme-chat/node_modules" "$run_dir/acme-chat/node_modules"

echo "test-web: wattfare dev on database $db (control $control, data $data, demo $demo)" >&2
(
  cd "$run_dir"
  DATABASE_URL="$e2e_url" WATTFARE_CONTROL_ADDR=$control WATTFARE_DATA_ADDR=$data \
    WATTFARE_SANDBOX_ADDR=$sandbox WATTFARE_DEMO_ADDR=$demo WATTFARE_DEMO_DIR="$run_dir/acme-chat" \
    WATTFARE_MAILPIT_SMTP_ADDR=$mail_smtp WATTFARE_MAILPIT_ADDR=$mail_web \
    exec "$root/bin/wattfare" dev
) >"$log" 2>&1 &
pid=$!

up() { curl -fsS -o /dev/null --max-time 2 "$1"; }
for i in $(seq 1 600); do
  if [ -f "$run_dir/.wattfare/dev.json" ] && up "http://$control/v1/connect.js" && up "http://$demo/" \
    && curl -sS -o /dev/null --max-time 2 "http://$data/v1/models"; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "test-web: wattfare dev exited" >&2; tail -50 "$log" >&2; exit 1; fi
  if [ "$i" = 600 ]; then echo "test-web: wattfare dev did not become healthy" >&2; tail -50 "$log" >&2; exit 1; fi
  sleep 0.1
done

cd web
WATTFARE_E2E_CONTROL_URL="http://$control" WATTFARE_E2E_DATA_URL="http://$data" WATTFARE_E2E_DEMO_URL="http://$demo" \
  WATTFARE_E2E_DEV_JSON="$run_dir/.wattfare/dev.json" WATTFARE_E2E_DEV_LOG="$log" WATTFARE_E2E_ARTIFACTS="$artifacts" \
  node --test --test-concurrency=1 ${WATTFARE_E2E_FILES:-e2e/*.test.mjs}

# WATTFARE_E2E_FILES (e.g. "e2e/budget.test.mjs") runs only those browser
# tests, for a developer iterating on one page; CI never sets it.
if [ -n "${WATTFARE_E2E_FILES:-}" ]; then exit 0; fi

# The npm package, built, packed and installed into apps on ai 6 and ai 7, against this server;
# after web/e2e, whose dashboard test expects the demo user among the app's first ten connections.
cd "$root"
WATTFARE_E2E_CONTROL_URL="http://$control" WATTFARE_E2E_DATA_URL="http://$data" WATTFARE_E2E_DEV_JSON="$run_dir/.wattfare/dev.json" \
  bash scripts/test-sdk.sh
