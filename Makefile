# The targets are the workflow: `make run` serves the aggregator with the SQLite default,
# `make test` installs what the tests need and runs lint and the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run demo test lint unit integration clean eval-classify bench-classify bench eval-dedupe \
	bench-dedupe

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

# The fetch-cycle benchmark: the service (SQLite, and PostgreSQL when
# $$AGGREGATOR_BENCH_DATABASE_URL or $$AGGREGATOR_TEST_DATABASE_URL is set) next to a floor and
# the reader library, 1,000 loopback feeds x 30 items at 100 ms latency. Takes several minutes.
BENCH_STAMP := $(VENV)/.installed-bench
# One parse process on a 2-core machine: the main process (fetching and storing) keeps the other
# core busy, and a second parse process only competes with it for CPU while costing ~70 MB of RSS
# (measured 2026-11-29: cold 43.0 s / 228-234 MB against 45.9 s / 298-308 MB with two).
BENCH_ARGS ?= --parse-workers 1

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/farm_bench.py $(BENCH_ARGS)

# Pairwise precision, recall and F1 of near-duplicate stories on the held-out half, with the
# confusions; SPLIT=tune|all for the other halves.
eval-dedupe: $(STAMP)
	$(BIN)/python -m aggregator.devtools.eval_dedupe --split $(SPLIT)

# Ingest cost per item with 10,000 and 200,000 stories stored; PG=URL adds PostgreSQL.
bench-dedupe: $(STAMP)
	$(BIN)/python bench/bench_dedupe.py $(if $(PG),--postgres $(PG))

clean:
	rm -rf $(VENV) data/*.db .pytest_cache .mypy_cache .ruff_cache
