#!/usr/bin/env bash
# Runs each fuzz target briefly (FUZZTIME, default 10s): the SSE usage
# scanner and the request parser of the data plane, and the catalog's price parser.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
for target in FuzzSSE FuzzParseRequest; do
  echo "fuzz: $target for $FUZZTIME"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ./dataplane/
done
# OpenRouter's decimal prices, parsed exactly into pico-dollars.
echo "fuzz: FuzzParsePrice for $FUZZTIME"
go test -run '^$' -fuzz '^FuzzParsePrice$' -fuzztime "$FUZZTIME" ./openrouter/
