# Two entry points (see README): `make demo` and `make test`.
# Each creates its own virtual environment in .venv on first use, from requirements.lock.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
LOCK    = requirements.lock
UV_VERSION = 0.13.9
# `make lock LOCK_FLAGS=--upgrade` moves every package to its newest allowed version.
LOCK_FLAGS ?=

# The packages mypy holds to --strict; migration_plan/ joins as soon as it exists.
TYPED_PACKAGES = $(wildcard strangler_proxy acl new_services migration_plan strangler_dashboard)
# apt-get needs root: sudo unless we are root already.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test lint up bench lock clean browser

# Every version (with hashes) from the lock: the dependencies of .[local,test]; then the
# project itself, editable, without resolving anything. `pip check` fails if pyproject.toml
# asks for something the lock lacks (run `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)  ## the whole stack on embedded defaults, a seeded market, and the guided migration story
	@echo "the dashboard: http://127.0.0.1:$${STRANGLER_DASHBOARD_PORT:-8090}/ (password: .strangler/dashboard-password)"
	$(BIN)/strangler demo --seed-sales 20000 --reset

up: $(STAMP)
	$(BIN)/strangler up

lint: $(STAMP)  ## ruff (lint and format) and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED_PACKAGES)

# The dashboard's browser test drives Debian's chromium through Playwright's executable_path
# (Playwright's own browser download is never used): installed here when missing.
browser:  ## Debian's chromium for tests/e2e/test_dashboard_browser.py
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing Debian's chromium (apt-get) for the dashboard's browser test"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: $(STAMP) lint browser  ## the linters, then the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## every benchmark, bounded (< 15 min on 2 cores): docs/bench-results/latest.{json,md}
	$(BIN)/strangler bench all

# uv in a venv of its own: .venv may be stale (that is why the lock is being remade).
lock:  ## re-resolve requirements.lock after a change to the dependencies in pyproject.toml
	$(PYTHON) -m venv $(VENV)-uv
	$(VENV)-uv/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)-uv/bin/uv pip compile pyproject.toml --extra local --extra test --universal --python-version 3.11 \
		--generate-hashes $(LOCK_FLAGS) --custom-compile-command 'make lock' -o $(LOCK)

clean:
	rm -rf $(VENV) $(VENV)-uv .strangler .mypy_cache .ruff_cache
