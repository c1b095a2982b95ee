# stockcast: `make help` lists the targets. Extra Hydra overrides go in ARGS="...".
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Users get their normal torch (on Linux PyPI's is the CUDA build, a ~6 GB venv). CPU-only machines:
# make install TORCH_SPEC=torch==2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cpu (~2 GB).
TORCH_SPEC ?= torch
TORCH_INDEX ?=
ARGS ?=
# The experiment `make train` / `make pipeline` use unless ARGS names one.
EXPERIMENT ?= mlp_w10
# The searches that select their own experiment (configs/hparams_search/).
SEARCHES_WITH_EXPERIMENT = hparams_search=auto_optuna
# ARGS's words as a shell reads its quotes, with nothing in them expanded, each quoted for the
# recipe's shell: make, then the shell, took a Hydra interpolation (x=${oc.env:HOME}) for a
# variable of their own and passed it on empty. A quote ARGS leaves open (or a lone backslash at
# its end) stops make.
SHELL_WORDS := import shlex, sys; print(" ".join(map(shlex.quote, shlex.split(sys.argv[1]))))
ARGS_WORDS = $(if $(strip $(value ARGS)),$(or \
	$(shell $(PYTHON) -c '$(SHELL_WORDS)' '$(subst ','\'',$(value ARGS))' 2>/dev/null),\
	$(error ARGS ($(value ARGS)) could not be split into words as a shell splits a command line: close each quote it opens, and end it with no lone backslash)))
# After ARGS (Hydra's -m comes before the overrides), and only where ARGS names no experiment
# and no search that selects one.
WITH_EXPERIMENT = $(ARGS_WORDS) $(if $(or $(findstring experiment=,$(value ARGS)),$(filter $(SEARCHES_WITH_EXPERIMENT),$(value ARGS))),,experiment=$(EXPERIMENT))
PYTEST_ARGS ?=
# The venv AutoGluon-TimeSeries is installed in (`make install-autogluon`), apart from .venv.
AUTOGLUON_VENV ?= .venv-autogluon
AUTOGLUON_PYTHON := $(AUTOGLUON_VENV)/bin/python
AUTOGLUON_VERSION ?= 1.6.3
# Test processes side by side (pytest-xdist): a CPU-bound suite gains nothing past the cores.
TEST_WORKERS ?= 2
INSTALLED := $(VENV)/.installed
# The local model-signing key pair (git-ignored), created on first use; configs/registry/local.yaml
# signs and verifies with it once it exists, and reads it where this puts it: STOCKCAST_KEYS_DIR,
# else keys/ under STOCKCAST_ROOT (the project folder when that is unset).
KEYS_DIR ?= $(or $(STOCKCAST_KEYS_DIR),$(if $(STOCKCAST_ROOT),$(STOCKCAST_ROOT)/keys,keys))
# Both files are targets: a private key without its public one signs but verifies nothing, so
# a lost public key is written again from the private one.
# A space in the folder (STOCKCAST_ROOT=~/My Projects/x) is escaped in the file names, or make read
# two targets and passed the script two words.
SPACE := $(subst ,, )
KEYS_TARGET_DIR := $(subst $(SPACE),\$(SPACE),$(KEYS_DIR))
SIGNING_KEYS := $(KEYS_TARGET_DIR)/model-signing.key $(KEYS_TARGET_DIR)/model-signing.pub
# Records which torch is installed. A new venv gets TORCH_SPEC/TORCH_INDEX (the defaults above,
# or the environment's: .ci/run exports TORCH_SPEC=torch==2.13.0, which CI's package mirror serves
# as its CPU wheel); after that only a make that names
# TORCH_SPEC or TORCH_INDEX on its command line installs another torch, so `make train` after
# `make install TORCH_SPEC=...` keeps the installed one.
TORCH_STAMP := $(VENV)/.torch-spec
TORCH_WANTED := $(TORCH_SPEC)$(if $(TORCH_INDEX), --index-url $(TORCH_INDEX))
TORCH_NAMED := $(filter command,$(origin TORCH_SPEC) $(origin TORCH_INDEX))
TORCH_PIP_ARGS := "$(TORCH_SPEC)"$(if $(TORCH_INDEX), --index-url "$(TORCH_INDEX)")
# setup.cfg's python_requires (>=X.Y), read only where used: checked before a python makes the
# venv, and of a venv not yet installed, so an older one is refused before torch is downloaded
# rather than by pip after it.
PYTHON_REQUIRES = $(shell sed -n 's/^python_requires *= *>= *//p' setup.cfg)
# Exits 1, saying so and then $(2), where the python $(1) is older than PYTHON_REQUIRES.
define require_python
$(1) -c 'import sys; old = sys.version_info[:2] < tuple(map(int, "$(PYTHON_REQUIRES)".split("."))); old and sys.stderr.write("$(1) is Python %d.%d and stockcast needs $(PYTHON_REQUIRES) or newer (setup.cfg): $(2).\n" % sys.version_info[:2]); sys.exit(old)'
endef
NEWER_PYTHON = run make again with PYTHON set to a newer one (make install PYTHON=python$(PYTHON_REQUIRES))

.DEFAULT_GOAL := help
.PHONY: help install keys train pipeline serve test test-fast lint format bench bench-accuracy install-autogluon clean submit submit-schedule \
	replay schedule-status schedule-disable schedule-enable schedule-delete submit-train deploy tracking-uri \
	FORCE

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

# Written when the venv has no torch recorded yet, and rewritten only when this make's command line
# names another torch (a venv made before the stamp existed adopts its torch as it is, unless this
# command line names one: that one is installed), so targets depending on it rebuild only then.
# A venv without pip (one a python lacking ensurepip left half-made) gets it from its own python:
# every install below runs its pip.
$(TORCH_STAMP): FORCE
	@test -x $(BIN)/python || { $(call require_python,$(PYTHON),$(NEWER_PYTHON)) && $(PYTHON) -m venv $(VENV); }
	@test -f $(INSTALLED) || $(call require_python,$(BIN)/python,remove $(VENV) and $(NEWER_PYTHON))
	@test -x $(BIN)/pip || $(BIN)/python -m ensurepip --upgrade --default-pip
	@if [ ! -f $@ ] && [ -f $(INSTALLED) ] && [ -z '$(TORCH_NAMED)' ]; then echo '$(TORCH_WANTED)' > $@; touch -r $(INSTALLED) $@; fi
	@if [ ! -f $@ ] || { [ -n '$(TORCH_NAMED)' ] && [ "$$(cat $@)" != '$(TORCH_WANTED)' ]; }; then \
		echo "installing $(TORCH_WANTED)"; \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip uninstall --quiet --yes torch && \
		$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) && \
		echo '$(TORCH_WANTED)' > $@; \
	fi

$(INSTALLED): setup.cfg pyproject.toml $(TORCH_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(INSTALLED) ## create .venv and install stockcast with its dev tools

keys: $(SIGNING_KEYS) ## create the local model-signing key pair in keys/ (kept if it exists; see KEYS_DIR)

$(SIGNING_KEYS): | $(INSTALLED)
	$(BIN)/python scripts/signing_keys.py "$(KEYS_DIR)"

train: $(INSTALLED) $(SIGNING_KEYS) ## train experiment=mlp_w10 locally (ARGS="..." adds Hydra overrides)
	$(BIN)/python src/train.py $(WITH_EXPERIMENT)

pipeline: $(INSTALLED) $(SIGNING_KEYS) ## prepare -> train -> evaluate -> refit -> register -> monitor locally, into the local registry
	$(BIN)/python -m stockcast.orchestration.runner $(WITH_EXPERIMENT)

replay: $(INSTALLED) $(SIGNING_KEYS) ## the daily schedule simulated locally, one pipeline run per day of new data (ARGS="days=30 replay.end=2026-06-30")
	$(BIN)/python -m stockcast.orchestration.replay $(WITH_EXPERIMENT)

serve: $(INSTALLED) $(SIGNING_KEYS) ## serve a registered model on 127.0.0.1 after verifying its files (ARGS="model.alias=champion serve.port=5001")
	$(BIN)/python scripts/serve.py $(ARGS_WORDS)

test: $(INSTALLED) ## lint, then run the whole test suite (slow end-to-end tests included), two at a time
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# test-fast does not even import these files (every test in them is azureml): the Azure ML SDK
# costs each test process seconds to import.
AZUREML_TEST_FILES := tests/test_*azure*.py

test-fast: $(INSTALLED) ## the inner loop: no end-to-end runs (slow) or Azure ML SDK builds (azureml), two at a time; stops at the first failure
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow and not azureml" --ignore-glob='$(AZUREML_TEST_FILES)' -x -q $(PYTEST_ARGS)

lint: $(INSTALLED) ## ruff check and format check
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

format: $(INSTALLED) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests scripts benchmarks
	$(BIN)/ruff format src tests scripts benchmarks

bench: $(INSTALLED) ## training, windowing, start-up, thread, predict, DDP, replay and panel benchmarks (benchmarks/)
	$(BIN)/python -m benchmarks $(ARGS_WORDS)

# The peers and the data sets, installed once (again when setup.cfg changes): a later run,
# offline too, starts at once.
PEERS_INSTALLED := $(VENV)/.peers-installed
$(PEERS_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[peers]"
	touch $@

bench-accuracy: $(PEERS_INSTALLED) ## stockcast vs naive, AutoETS, AutoTheta, NeuralForecast (+ AutoGluon once installed)
	$(BIN)/python -m benchmarks.accuracy $(if $(wildcard $(AUTOGLUON_PYTHON)),--autogluon-python $(AUTOGLUON_PYTHON)) $(ARGS_WORDS)

# AutoGluon-TimeSeries pins its own torch and Lightning, so it gets a venv of its own, which
# bench-accuracy runs as one more peer once it exists.
install-autogluon: ## AutoGluon-TimeSeries in .venv-autogluon, a peer for bench-accuracy
	test -x $(AUTOGLUON_PYTHON) || $(PYTHON) -m venv $(AUTOGLUON_VENV)
	$(AUTOGLUON_PYTHON) -m pip install --quiet $(TORCH_PIP_ARGS) "autogluon.timeseries==$(AUTOGLUON_VERSION)"

# DRY_RUN=1 writes the YAML under outputs/azureml/ and sends nothing. ARGS takes the same Hydra
# overrides as local runs plus azureml.* settings, e.g. ARGS="experiment=mlp_w30 azureml.schedule.hour=5";
# without an experiment= the cloud runs (and the schedule's name) are make pipeline's, EXPERIMENT.
DRY_RUN ?=
# scripts/submit.py reads it itself, so `make submit DRY_RUN=False` means what a direct run's does.
export DRY_RUN
SUBMIT := $(BIN)/python scripts/submit.py

submit: $(INSTALLED) ## run the pipeline (prepare → train → evaluate → refit → register → monitor) once on Azure ML (DRY_RUN=1: only write YAML)
	$(SUBMIT) pipeline $(WITH_EXPERIMENT)

submit-schedule: $(INSTALLED) ## create or update the daily Azure ML schedule of the pipeline
	$(SUBMIT) schedule $(WITH_EXPERIMENT)

schedule-status: $(INSTALLED) ## show whether the Azure ML schedule is enabled, and its trigger
	$(SUBMIT) schedule-status $(WITH_EXPERIMENT)

schedule-disable: $(INSTALLED) ## pause the Azure ML schedule
	$(SUBMIT) schedule-disable $(WITH_EXPERIMENT)

schedule-enable: $(INSTALLED) ## resume the Azure ML schedule
	$(SUBMIT) schedule-enable $(WITH_EXPERIMENT)

schedule-delete: $(INSTALLED) ## delete the Azure ML schedule
	$(SUBMIT) schedule-delete $(WITH_EXPERIMENT)

submit-train: $(INSTALLED) ## one standalone Azure ML training job, environment built from environments/train/
	$(SUBMIT) train $(WITH_EXPERIMENT)

deploy: $(INSTALLED) ## managed online endpoint for the champion (or ARGS="azureml.endpoint.model_version=2", which DRY_RUN=1 needs)
	$(SUBMIT) deploy $(WITH_EXPERIMENT)

tracking-uri: $(INSTALLED) ## print the workspace's MLflow tracking URI (for registry=azureml on a laptop)
	@$(BIN)/python scripts/submit.py tracking-uri $(ARGS_WORDS)

CLEANED_FOLDERS := logs outputs mlartifacts .pytest_cache .ruff_cache
CLEANED := $(CLEANED_FOLDERS) mlruns.db mlruns.db.lock ledger.db ledger.db-journal optuna.db
# Refuses where the folder $(2) (named $(1) to the user) is inside a folder clean removes: a
# STOCKCAST_ROOT in outputs/<experiment>, or a key folder there, would go with it (its store and
# private signing key), though clean leaves both as they are.
define keep_out_of_clean
path="$(2)"; [ -n "$$path" ] && [ -d "$$path" ] || exit 0; path="$$(cd "$$path" && pwd -P)"; \
for folder in $(CLEANED_FOLDERS); do \
	[ -d "$$folder" ] && case "$$path/" in "$$(cd "$$folder" && pwd -P)/"*) \
		echo "make clean would remove $(1) with $$folder/, which it leaves as it is: move it out of $$folder/ (or remove it yourself) and run make clean again." >&2; \
		exit 1;; \
	esac; \
done; true
endef

# A STOCKCAST_ROOT naming this folder (its path, `.`) was just cleaned: only another one is said
# to be left as it is.
clean: ## remove logs, the local MLflow store and caches (keeps .venv; a STOCKCAST_ROOT folder is left as it is)
	@$(call keep_out_of_clean,STOCKCAST_ROOT=$$STOCKCAST_ROOT,$$STOCKCAST_ROOT)
	@$(call keep_out_of_clean,the signing key folder $(KEYS_DIR),$(KEYS_DIR))
	rm -rf $(CLEANED)
	@if [ -n "$$STOCKCAST_ROOT" ] && [ "$$(cd "$$STOCKCAST_ROOT" 2>/dev/null && pwd -P)" != "$$(pwd -P)" ]; then echo "STOCKCAST_ROOT=$$STOCKCAST_ROOT is left as it is: remove its logs/, outputs/, mlruns.db, mlartifacts/ and ledger.db yourself if you mean to."; fi
	find . -path ./$(VENV) -prune -o -path ./$(AUTOGLUON_VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

FORCE:
