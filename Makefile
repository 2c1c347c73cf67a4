# Two commands do all set-up on a fresh machine:
#   make run    virtualenv, install, migrate, start the engine on its embedded defaults
#   make test   virtualenv, install with dev extras, services (PostgreSQL, Chromium), lint,
#               the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/notifier db upgrade
	$(BIN)/notifier serve

# The services the suite needs (PostgreSQL running, Chromium installed) are set up first by
# scripts/test-services.sh; the suite runs as two pytest processes at once
# (scripts/run-tests.sh); make stops with pytest's exit status when a test fails.
test: $(VENV)/.installed-dev
	scripts/test-services.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	PYTEST=$(BIN)/pytest scripts/run-tests.sh $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Each bench ends with ONE JSON line of its figures; BENCH_ARGS_<name> passes size options
# (e.g. make bench BENCH_ARGS_detect="--stored 10000 --due 1000"). PostgreSQL must be running.
BENCH_DATABASES ?= sqlite postgresql
bench: $(VENV)/.installed-dev
	for db in $(BENCH_DATABASES); do \
	  $(BIN)/python bench/ingest.py --database $$db $(BENCH_ARGS_ingest) && \
	  $(BIN)/python bench/detect.py --database $$db $(BENCH_ARGS_detect) && \
	  $(BIN)/python bench/dispatch.py --database $$db $(BENCH_ARGS_dispatch) && \
	  $(BIN)/python bench/memory.py --database $$db $(BENCH_ARGS_memory) || exit 1; \
	done
	case " $(BENCH_DATABASES) " in *" postgresql "*) \
	  $(BIN)/python bench/scaleout.py $(BENCH_ARGS_scaleout);; esac

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
