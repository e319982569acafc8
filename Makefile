# The README's two set-up commands are `make up` and `make test`; everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
DATA_DIR ?= $(or $(TIMESHEETS_DATA_DIR),./.timesheets)
PYTEST_ARGS ?=

.PHONY: install up test lint format bench fuzz soak clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

up: install
	$(BIN)/timesheets up --data-dir "$(DATA_DIR)"

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/token_endpoint.py --postgres
	$(BIN)/python bench/api_write.py --postgres
	$(BIN)/python bench/mixed.py --postgres
	$(BIN)/python bench/import.py
	$(BIN)/python bench/writer_turn.py
	$(BIN)/python bench/group_commit.py

fuzz: install
	TIMESHEETS_FUZZ_EXAMPLES=$${TIMESHEETS_FUZZ_EXAMPLES:-1000} $(BIN)/python -m pytest -q tests/fuzz tests/bearer/test_verifier_fuzz.py

soak: install
	$(BIN)/python bench/soak.py --minutes $${SOAK_MINUTES:-10}

lock:
	uv pip compile pyproject.toml --group dev --generate-hashes --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
