#!/usr/bin/env bash
# Benchmarks the data plane against a bare fasthttp pass-through proxy in one
# run, on loopback, and writes the figures to BENCHMARKS.md. Needs Postgres
# (make bench starts it) and takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/wattfare ./cmd/wattfare
go build -o bin/wattfare-bench ./bench
# The peer gateway measured beside the bare proxy (bench/portkey pins it).
mkdir -p build/portkey
cp bench/portkey/package.json bench/portkey/package-lock.json build/portkey/
if ! cmp -s bench/portkey/package-lock.json build/portkey/.installed 2>/dev/null; then
  if (cd build/portkey && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error); then
    cp bench/portkey/package-lock.json build/portkey/.installed
  else
    echo "bench: could not install the peer gateway; the report says so" >&2
  fi
fi
timeout 600 ./bin/wattfare-bench -wattfare bin/wattfare -out BENCHMARKS.md "$@"

# The spend engine's figures (issue 4): Postgres transactions per 1,000
# requests and revocation-to-stop latency, across three real `wattfare data`
# processes against one Postgres (invariants/figures_test.go).
echo "bench: spend engine figures across three data-plane processes"
figures=$(go test -count=1 -run '^TestLeaseFigures$' -v ./invariants 2>&1) || { echo "$figures"; exit 1; }
{
  echo
  echo "## Spend engine across three data-plane processes"
  echo
  echo "Produced in the same \`make bench\` by \`go test -count=1 -run '^TestLeaseFigures\$' -v ./invariants\`: three \`wattfare data\` processes, one Postgres, 10,000 requests from 32 clients over 16 users (a quarter on sandbox/pricey), then 12 revokes through the control plane's revokeConnection mutation with a stream open on every process. Transactions are counted from a quiet database to a quiet database (every backend idle long enough for Postgres to have reported its statistics), so the leases' grants and releases are in the count."
  echo
  echo "$figures" | grep -E 'transactions per 1,000|revoke sent|first revoke returned' | sed -E 's/^[[:space:]]*[a-z_]+\.go:[0-9]+: /- /'
} >> BENCHMARKS.md
echo "$figures" | grep -E 'transactions per 1,000|revoke sent'

# The long tail (issue 16): 100,000 users seeded by COPY, cold connections,
# Zipf(1.1) traffic, memory per connection, idle leases, a burst on one cap.
echo "bench: the long tail (100,000 users, three data-plane processes)"
tail=$(go test -count=1 -run '^$' -bench '^BenchmarkLongTail$' -benchtime 1x -timeout 15m -v ./invariants 2>&1) || { echo "$tail"; exit 1; }
{
  echo
  echo "## The long tail"
  echo
  echo "Produced in the same \`make bench\` by \`go test -run '^\$' -bench '^BenchmarkLongTail\$' -benchtime 1x -v ./invariants\`: 100,000 connected users seeded by COPY, three \`wattfare data\` processes on one Postgres, 32 clients. Warm: 300 users already seen by their process. Cold: 3,000 users no process had seen, one request each. Transactions are counted quiet to quiet as above."
  echo
  echo "$tail" | grep -E 'long tail:' | sed -E 's/^[[:space:]]*[a-z_]+\.go:[0-9]+: long tail: /- /'
} >> BENCHMARKS.md
echo "$tail" | grep -E 'long tail:'
