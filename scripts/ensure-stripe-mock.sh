#!/usr/bin/env bash
# Installs stripe-mock (Stripe's API mock, which the payment tests and
# `wattfare dev` run) into $(go env GOPATH)/bin unless that version is there.
set -euo pipefail
VERSION=v0.203.0
bin="$(go env GOPATH)/bin/stripe-mock"
# stripe-mock built by go install reports its version as "master": the
# stamp file beside it says which one was installed.
if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
echo "ensure-stripe-mock: installing stripe-mock ${VERSION}" >&2
GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@${VERSION}"
echo "$VERSION" > "$bin.version"
