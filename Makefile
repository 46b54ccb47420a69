# salesflow: `make run` and `make test` set themselves up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint format typecheck bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)  ## set up, then run the main job on the embedded default (Ctrl-C stops)
	$(BIN)/salesflow run --demo

test: $(STAMP) lint chromium  ## set up, lint, then the whole test suite
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "make test needs Debian's chromium for the browser tests: sudo apt-get install -y chromium" >&2; \
			exit 1; \
		fi; }

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
