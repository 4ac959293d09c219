#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
echo "test-web: nothing yet"
