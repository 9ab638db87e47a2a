# Two set-up commands: `make demo` and `make test`. Each bootstraps .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
SPARK_STAMP := $(VENV)/.installed-spark-$(shell cat pyproject.toml | md5sum | cut -c1-12)
DBT := $(BIN)/dbt
DBT_FLAGS := --profiles-dir . --project-dir .

DEMO_EVENTS ?= 1000000
DEMO_DAYS ?= 14

.PHONY: install demo test test-fast test-spark lint format bench bench-bill bench-dbt bench-erasure bench-spark bench-streaming bench-s3 docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m eventlake.lake.lakehouse
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# promtool (Debian's prometheus package) for the alert rules' tests; never starts the server.
.PHONY: promtool
promtool:
	scripts/ensure_promtool.sh

test test-fast: promtool

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/sqlfluff lint models macros data-tests

format: install
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

# Two pytest-xdist workers, a test module each at a time (module fixtures build once): most tests
# wait on one single-threaded dbt or loader process, so two keep both cores busy (docs/operations.md
# has the suite's figures). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -m "not spark" $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadscope) --durations=10

# The inner loop, a few minutes at most: the tests that need no server and are not slow
# (markers in pyproject.toml; conftest applies broker, redis and postgres from the fixtures),
# then dbt's unit tests, built empty in a scratch lake and catalog.
FAST_MARKERS := not broker and not redis and not postgres and not s3 and not spark and not slow
test-fast: install
	$(BIN)/python -m pytest -m "$(FAST_MARKERS)" -q --durations=5
	work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && \
	EVENTLAKE_LAKE_DIR=$$work/lake EVENTLAKE_CATALOG=sqlite:$$work/lakehouse.sqlite \
	DBT_TARGET_PATH=$$work/target DBT_LOG_PATH=$$work/logs \
	$(DBT) build --empty --select "+test_type:unit" --exclude "test_type:data" $(DBT_FLAGS)

# The same dbt project on Spark (dbt-spark, local pyspark, Java 17): parity with DuckDB.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP)
	$(BIN)/python -m pytest -m spark --durations=5

# The main job end to end on the embedded defaults (./lake, the SQLite catalog ./lakehouse.sqlite,
# 127.0.0.1:9092): no server. The demo owns those defaults, whatever the environment says; the
# steps are scripts/demo.sh, which starts from an empty lake and lakehouse and stops the broker
# on any exit.
demo: export KAFKA_BOOTSTRAP_SERVERS := 127.0.0.1:9092
demo: export EVENTLAKE_TOPIC := events
demo: export EVENTLAKE_DLQ_TOPIC := events-dlq
demo: export EVENTLAKE_LAKE_DIR := lake
demo: export EVENTLAKE_CATALOG := sqlite:lakehouse.sqlite
demo: export EVENTLAKE_ONLINE_BACKEND := sqlite
demo: export EVENTLAKE_ONLINE_PATH := online.sqlite
demo: export EVENTLAKE_FRAUD_PATH := fraud.sqlite
demo: install
	BIN=$(BIN) DEMO_EVENTS=$(DEMO_EVENTS) DEMO_DAYS=$(DEMO_DAYS) scripts/demo.sh

bench: install
	$(BIN)/python scripts/bench_loader.py

bench-bill: install
	$(BIN)/python scripts/bench_bill.py

bench-dbt: install
	$(BIN)/python scripts/bench_dbt.py

bench-erasure: install
	$(BIN)/python scripts/bench_erasure.py --lakehouse --passes 3

bench-spark: $(SPARK_STAMP)
	$(BIN)/python scripts/bench_spark.py

bench-streaming: install
	$(BIN)/python scripts/bench_streaming.py

bench-s3: install
	$(BIN)/python scripts/bench_s3.py

docs: install
	$(DBT) docs generate $(DBT_FLAGS)
	$(DBT) docs serve $(DBT_FLAGS) --host 127.0.0.1 --port 8080

clean:
	rm -rf lake lakehouse.sqlite* online.sqlite* fraud.sqlite* target logs .eventlake .pytest_cache
