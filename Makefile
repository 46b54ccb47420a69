# salesflow: `make run` and `make test` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint format typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)  ## set up, then run the main job on the embedded default (Ctrl-C stops)
	$(BIN)/salesflow run --demo

test: $(STAMP) lint  ## set up, lint, then the whole test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## benchmarks; record the figures in docs/benchmarks.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) salesflow-data .pytest_cache .mypy_cache .ruff_cache
