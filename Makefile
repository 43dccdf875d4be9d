# tenantkit: the commands a developer runs. `make help` lists them.
GO      ?= go
PKGS    ?= ./...
ATLAS   ?= bin/atlas

.PHONY: help run build test test-short generate check-generated lint migration migration-check atlas bench tenantctl clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

run: ## run the service (embedded SQLite in ./data unless DATABASE_URL is set)
	$(GO) run ./cmd/server

build: ## build the server and tenantctl into bin/
	$(GO) build -o bin/server ./cmd/server
	$(GO) build -o bin/tenantctl ./cmd/tenantctl

test: check-generated atlas ## all tests, both dialects (needs PostgreSQL on 127.0.0.1:5432 or TEST_DATABASE_URL)
	TENANTKIT_REQUIRE_ATLAS=1 $(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short: ## tests without the race detector and the Atlas CLI build
	$(GO) test -count=1 $(PKGS)

generate: ## regenerate the ent clients from schema/
	$(GO) generate ./...

check-generated: ## fail if `go generate ./...` changes ent/ (generated code out of date with schema/)
	GO=$(GO) bash scripts/check-generated.sh

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w"; exit 1)
	$(GO) vet $(PKGS)

migration: ## write the next migration for every graph and dialect: make migration name="add new feature"
	@test -n "$(name)" || (echo 'usage: make migration name="add new feature"'; exit 1)
	$(GO) run ./cmd/migrationgen -name "$(name)"

migration-check: ## fail if the migrations and the ent schemas disagree
	$(GO) run ./cmd/migrationgen -check

atlas: ## build the Atlas CLI (v0.13.1, from the Go module proxy) into bin/atlas
	bash scripts/build-atlas.sh

bench: ## Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./tenancy/

clean: ## remove build output and the local SQLite data
	rm -rf bin data
