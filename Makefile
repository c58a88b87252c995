# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install what they need first (idempotent, cached in ~/.cache/fedledger).
SHELL := /bin/bash
RUN := scripts/with-env

.PHONY: install demo test unit integration lint bench down

install:
	@scripts/install.sh

demo: install
	@$(RUN) python -m fedledger demo

test: install lint
	@cd zk && GOFLAGS=-mod=readonly go test ./...
	@scripts/check-wheel.sh
	@$(RUN) python -m pytest tests -q -ra --durations=15

unit: install
	@$(RUN) python -m pytest tests/unit -q

integration: install
	@$(RUN) python -m pytest tests/integration -q -ra

lint: install
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) lint-imports --no-cache
	@cd zk && test -z "$$(gofmt -l .)" || { echo "gofmt: reformat $$(cd zk && gofmt -l .)"; exit 1; }
	@cd zk && GOFLAGS=-mod=readonly go vet ./...

bench: install
	@$(RUN) python -m fedledger bench ledger --json .fedledger/bench-ledger.json

down:
	@$(RUN) python -m fedledger network down
