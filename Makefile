# tether — the two commands: `make demo` (setup + demo) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv cluster-bins browser test unit integration lint fmt demo bench clean

all: test

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian's chromium for the dashboard's browser tests (tools/browser/install.sh).
browser:
	bash tools/browser/install.sh

# Go-built control plane and render tools, cached outside the checkout (DESIGN §5).
cluster-bins:
	bash tools/controlplane/build.sh

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

unit: venv
	$(BIN)/pytest tests/unit

# The README's test command: lint, then every test against the real local control plane.
test: venv cluster-bins browser lint
	$(BIN)/pytest -n 3 --dist loadfile tests

demo: venv cluster-bins
	bash scripts/demo.sh

bench: venv cluster-bins
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
