# stockcast: `make help` lists the targets. Extra Hydra overrides go in ARGS="...".
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Users get their normal torch; CI and CPU-only machines set TORCH_SPEC=torch==2.13.0 (CPU wheel).
TORCH_SPEC ?= torch
ARGS ?=
PYTEST_ARGS ?=
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install train pipeline test lint format bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(INSTALLED): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(INSTALLED) ## create .venv and install stockcast with its dev tools

train: $(INSTALLED) ## train experiment=mlp_w10 locally
	$(BIN)/python src/train.py experiment=mlp_w10 $(ARGS)

test: $(INSTALLED) ## lint, then run the whole test suite (slow end-to-end tests included)
	$(BIN)/ruff check src tests scripts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED) ## ruff check and format check
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

format: $(INSTALLED) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

bench: $(INSTALLED) ## throughput, windowing and start-up benchmarks
	$(BIN)/python scripts/bench.py $(ARGS)

clean: ## remove logs, the local MLflow store and caches (keeps .venv)
	rm -rf logs outputs mlruns.db mlartifacts optuna.db .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
