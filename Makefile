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
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench deploy
	$(BIN)/ruff check --fix src tests bench deploy

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## benchmarks; record the figures in docs/benchmarks.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) salesflow-data .pytest_cache .mypy_cache .ruff_cache

# -- the AWS face (docs/aws.md) ---------------------------------------------------------------
.PHONY: synth deploy
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
CDK     := deploy/node_modules/.bin/cdk
LAYER   := deploy/build/layer/python

synth: $(STAMP)  ## synthesise the CDK app offline into deploy/cdk.out/ (no AWS account, no Docker)
	rm -rf deploy/cdk.out
	cd deploy && $(CDK_ENV) ../$(BIN)/python app.py
	@echo "synthesised: deploy/cdk.out/Salesflow.template.json"

# The CDK CLI comes from npm into deploy/node_modules on first use.
$(CDK): deploy/package.json
	cd deploy && npm install --no-audit --no-fund --loglevel=error
	touch $@

# make deploy [CDK_ARGS="--parameters MaxConcurrency=200 --profile prod"]: needs AWS credentials and Docker (the batch image).
deploy: $(STAMP) $(CDK)  ## build the Lambda layer, bootstrap (once), cdk deploy
	rm -rf deploy/build/layer && mkdir -p $(LAYER)
	$(BIN)/python -m pip install --quiet --target $(LAYER) --platform manylinux2014_aarch64 \
		--implementation cp --python-version 3.11 --only-binary=:all: -r deploy/layer-requirements.txt
	cd deploy && $(CDK_ENV) node_modules/.bin/cdk bootstrap $(CDK_ARGS)
	cd deploy && $(CDK_ENV) node_modules/.bin/cdk deploy --require-approval broadening -c require_layer=true $(CDK_ARGS)
