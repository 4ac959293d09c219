# Wattfare. `make dev` runs the whole product locally; `make test` runs every
# test. Both install or start what they need (PostgreSQL, Node packages,
# Chromium) on a Debian machine as root.
SHELL := /bin/bash
GO ?= go
export DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/wattfare?sslmode=disable

.PHONY: dev test bench generate build postgres web example check-generated test-go test-fuzz test-web clean

dev: postgres build
	@bash scripts/ensure-stripe-mock.sh
	@bash scripts/ensure-mailpit.sh
	./bin/wattfare dev

test: postgres check-generated test-go test-fuzz test-web

build: web example
	$(GO) build -o bin/wattfare ./cmd/wattfare

bench: postgres build
	bash scripts/bench.sh

generate:
	bash scripts/generate.sh

postgres:
	@bash scripts/ensure-postgres.sh

web:
	@bash scripts/build-web.sh

# The demo app: examples/acme-chat with its wattfare.patch, in build/acme-chat.
example:
	@bash scripts/build-example.sh

check-generated:
	bash scripts/check-generated.sh

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 12m ./...

test-fuzz:
	bash scripts/fuzz.sh

test-web: build
	bash scripts/test-web.sh

clean:
	rm -rf bin build web/dist/app
