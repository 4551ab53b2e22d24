# Two commands for a fresh machine: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv comes from PATH, or is bootstrapped with pip into .tools/ the first time.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=

.PHONY: help install web run test test-fast lint fmt bench load clean grpc grpc-release

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

install: $(if $(findstring .tools,$(UV)),.tools/bin/uv)  ## Install every package from uv.lock into .venv
	$(UV) sync --locked --all-packages

# The storefront (web/): npm ci when the lock changed, vite build (with the bundle budget)
# when any source changed. The gateway serves web/dist; without it, a plain landing page.
NPM := $(shell command -v npm 2>/dev/null)
WEB_SOURCES := $(wildcard web/*.json web/*.ts web/*.html) \
	$(shell find web/src web/public web/scripts -type f 2>/dev/null)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build || { rm -f dist/index.html; exit 1; }

web:  ## Build the storefront into web/dist when its sources changed (needs Node >= 20)
ifeq ($(NPM),)
	@echo "npm not found: the gateway will serve its plain landing page. Install Node.js >= 20 for the storefront."
else
	@$(MAKE) --no-print-directory web/dist/index.html
endif

run: install web  ## Start the whole platform on embedded defaults and print the URL
	$(UV) run --no-sync bazaar up

# Each package's tests run in their own pytest process: every service has a `tests`
# package, and one process cannot import two packages of the same name.
TEST_DIRS := bench/tests libs/chassis/tests $(wildcard services/*/tests) tests/deploy tests/system tests/browser

test: install lint web  ## Lint, then every test (PostgreSQL, Redis and RabbitMQ tests skip unless reachable; CI=true makes them required)
	@failed=""; \
	echo "== web (vitest, prettier, API types match the services)"; \
	(cd web && npm test --silent && npm run --silent format:check && npm run --silent api:check) \
	  || failed="$$failed web"; \
	for dir in $(TEST_DIRS); do \
	  echo "== $$dir"; \
	  $(UV) run --no-sync pytest $$dir $(PYTEST_ARGS) || failed="$$failed $$dir"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED in:$$failed"; exit 1; fi

test-fast: install  ## Unit tests only, on SQLite
	@for dir in $(filter-out tests/system tests/browser,$(TEST_DIRS)); do \
	  $(UV) run --no-sync pytest $$dir -q -k "not postgresql" $(PYTEST_ARGS) || exit 1; \
	done

lint: install  ## ruff (lint + format check) and mypy strict on libs/ and services/
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy libs/chassis/src services/*/src deploy/settings_reference.py bench load

grpc: install  ## Regenerate the gRPC code (libs/chassis/src/bazaar) from contracts/grpc
	$(UV) run --no-sync python -m chassis.rpc.contracts generate

grpc-release: install  ## Record contracts/grpc as released (refused when it breaks the last release)
	$(UV) run --no-sync python -m chassis.rpc.contracts release

fmt: install  ## Format and auto-fix
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

# BENCH_ARGS passes options through, e.g. `make bench BENCH_ARGS="--embedded also --duration 5"`.
bench: install  ## Start the platform on PostgreSQL, Redis and RabbitMQ, measure it with wrk; writes bench/results/
	$(UV) run --no-sync python -m bench $(BENCH_ARGS)

# LOAD_ARGS passes options to Locust, e.g. `make load LOAD_ARGS="--headless -t 60s"`.
LOAD_ARGS ?=
load: install  ## Shoppers on the platform `make run` started (Locust: web UI, or headless); CSV in var/load/
	@mkdir -p var/load
	@echo "Locust on load/locust.conf (target http://127.0.0.1:8000 unless --host; web UI http://127.0.0.1:8089 unless --headless)"
	$(UV) run --no-sync locust --config load/locust.conf $(LOAD_ARGS)

clean:  ## Remove local data and caches (keeps .venv)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache test-output web/dist
