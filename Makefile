# The targets are the workflow: `make run` serves the aggregator with the SQLite default,
# `make test` installs what the tests need and runs lint and the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run demo test lint unit integration clean eval-classify bench-classify

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p data
	$(BIN)/aggregator run --host $(HOST) --port $(PORT)

demo: $(STAMP)
	$(BIN)/python -m aggregator.devtools.demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check aggregator tests bench
	$(BIN)/ruff format --check aggregator tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# Topic precision/recall per topic and the confusions on the held-out half (SPLIT=tune|all).
SPLIT ?= heldout
eval-classify: $(STAMP)
	$(BIN)/python -m aggregator.devtools.eval_classify --split $(SPLIT)

# Classification items/s on one core next to tokenizing alone, measured in the same run.
bench-classify: $(STAMP)
	$(BIN)/python bench/bench_classify.py

clean:
	rm -rf $(VENV) data/*.db .pytest_cache .mypy_cache .ruff_cache
