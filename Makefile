# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RVBBIT_HOME := $(CURDIR)/.rvbbit
export DAGSTER_HOME ?= $(RVBBIT_HOME)/dagster_home

.PHONY: run test lint bench install browser clean screenshots

# uv resolves the same versions as pip, but downloads in parallel: a clean clone's install is
# part of CI's `make test` budget. --compile-bytecode: unlike pip, uv leaves the .pyc files
# out, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI) every Python process then
# compiles Dagster, pandas and scikit-learn again: 5 s of each test's CLI and Dagster process.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# After the demo: partitions from the store's first run, `materialize`, then the Dagster UI
# (:3000) and the analytics page (:8765) until Ctrl-C (rvbbit_assets/cli/local_stack.py).
# `make run VERBOSE=1` shows every Dagster event and server line.
run: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@cp deploy/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/rvbbit-analytics init --with-source
	$(BIN)/rvbbit-analytics demo --if-empty
	$(BIN)/python -m rvbbit_assets.cli.local_stack $(if $(VERBOSE),--verbose)

# Two test workers, one per core (a third only adds contention: 800 s against 726 s). Each
# module is one unit of work, started in conftest.py's order (slow modules first), not
# xdist's (modules with the most tests first, which left the slow ones for the end).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadgroup --no-loadscope-reorder

# Headless Chromium for the page tests, from Debian (the emoji font draws the badges).
browser:
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium fonts-noto-color-emoji)

# The README's screenshots: the browser tests that save them, then a copy into docs/images/.
screenshots: $(STAMP) browser
	$(BIN)/pytest tests/test_page.py -q -k "badges_forecasts_and_recommendations or asset_graph_screenshot"
	mkdir -p docs/images
	cp test-artifacts/analytics-page.png test-artifacts/asset-graph.png docs/images/

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/detection_bench.py

clean:
	rm -rf $(VENV) $(RVBBIT_HOME)
