# rebalance-bot: every command a user or CI needs. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
BENCHSTAMP := $(VENV)/.installed-bench

.PHONY: demo demo-http test lint lint-docker typecheck unit bench clean browser-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

demo: $(STAMP)
	@echo "== What the bot sees and plans (simulated exchange, demo scenario) =="
	$(BIN)/rebalance-bot plan --config config/demo.toml
	@echo "== Rebalancing it, in real time, with depth-sized limit orders =="
	$(BIN)/rebalance-bot run --config config/demo.toml --until-balanced

$(BENCHSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(STAMP)

lint: $(DEVSTAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

lint-docker: $(DEVSTAMP)
	$(BIN)/hadolint Dockerfile

typecheck: $(DEVSTAMP)
	$(BIN)/mypy --strict bot

# Debian's chromium for the dashboard's browser tests (tests/browser/), when it is missing.
browser-deps:
	bash .ci/browser-deps

# The suite on two workers (pytest-xdist): about 6.5 minutes on CI's two cores, 11 on one.
unit: $(DEVSTAMP) browser-deps
	$(BIN)/pytest -n 2

test: lint lint-docker typecheck unit

bench: $(BENCHSTAMP)
	$(BIN)/python -m bench

# The bot against the simulated exchange served as the Binance spot API on 127.0.0.1:8765,
# through ccxt's own binance client (request signing, parsing, errors).
demo-http: $(STAMP)
	@$(BIN)/rebalance-bot sim-server --scenario config/scenarios/demo.toml --port 8765 & \
	  server=$$!; trap "kill $$server" EXIT; sleep 2; \
	  REBALANCE_EXCHANGE__API_KEY=rebalance-bot-local-test-key \
	  REBALANCE_EXCHANGE__SECRET=rebalance-bot-local-test-secret \
	  $(BIN)/rebalance-bot run --config config/local-binance.toml --until-balanced

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
