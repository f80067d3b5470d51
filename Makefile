# `make run` (the daemon) and `make test` are the README's two quick-start commands; CI runs
# `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= newsrelay.toml

.PHONY: install run test test-fast lint format bench bench-daemon bench-cluster bench-extract bench-console bench-scale bench-scale-polls bench-scale-storage clean

$(BIN)/newsrelay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/newsrelay

run: install
	$(BIN)/newsrelay --config $(CONFIG) run

# Two workers, each taking whole test files (a file's module fixtures start once): the suite
# is mostly waiting on subprocesses, servers and timers, so it takes about 10 minutes instead of
# 15 on two cores. `$(BIN)/pytest -q` alone runs it in one process.
test: install
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -q -n 2 --dist loadfile -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/crawl_bench.py

bench-daemon: install
	$(BIN)/python bench/daemon_memory.py

bench-cluster: install
	$(BIN)/python bench/cluster_bench.py

bench-console: install
	$(BIN)/python bench/console_bench.py

# Issue 19, one command: the daemon's unchanged polls at 1,000 and 10,000 sources
# (bench/scale_bench.py, about 35 minutes), then storage at 0, 10k, 100k and 300k stored
# articles, SQLite then PostgreSQL (bench/scale_storage.py, a database bench_scale dropped
# after; about an hour). SCALE_ARGS="--sizes 0,10000 --db sqlite" for a quick storage look.
SCALE_ARGS ?=
bench-scale: bench-scale-polls bench-scale-storage

bench-scale-polls: install
	$(BIN)/python bench/scale_bench.py

bench-scale-storage: install
	$(BIN)/python bench/scale_storage.py $(SCALE_ARGS)

# The public datasets are not in git (see bench/extract_bench.py for their licences): the first
# run clones them into bench/data/extraction, which git ignores.
EXTRACT_DATA ?= bench/data/extraction
bench-extract: install
	test -d $(EXTRACT_DATA) || git clone --depth 1 https://github.com/j-szulc/html-cleaning-dataset-merged $(EXTRACT_DATA)
	$(BIN)/python bench/extract_bench.py --data $(EXTRACT_DATA)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
