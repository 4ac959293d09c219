#!/usr/bin/env bash
# Benchmarks the data plane against a bare fasthttp pass-through proxy in one
# run, on loopback, and writes the figures to BENCHMARKS.md. Needs Postgres
# (make bench starts it) and takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/wattfare ./cmd/wattfare
go build -o bin/wattfare-bench ./bench
timeout 600 ./bin/wattfare-bench -wattfare bin/wattfare -out BENCHMARKS.md "$@"
