# billing-export — the two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The sample's ECB reference rates reach 2026-10-30; bill the sample on that date.
INVOICE_DATE ?= 2026-10-30
OUTBOX ?= out/outbox
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install run test clean sample-data

$(BIN)/billing-export: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

install: $(BIN)/billing-export

run: install
	$(BIN)/billing-export run --invoice-date $(INVOICE_DATE) --outbox $(OUTBOX)

# test: everything, on TEST_WORKERS processes (pytest-xdist; 0 runs them in this one); the e2e
# module, the Prefect-harness tests and modules sharing a module fixture each stay on one worker
# (tests/conftest.py, xdist_group). Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set:
# otherwise every worker and every subprocess the tests start compiles the project again, and
# pytest rewrites every test module on every run.
TEST_WORKERS ?= 2
TEST_ENV := PYTHONDONTWRITEBYTECODE= PREFECT_HOME=$$(mktemp -d)

test: install lint
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(TEST_ENV) \
		$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

sample-data: install
	$(BIN)/python sample_data/generate_orders.py
	$(BIN)/python sample_data/update_rates.py

clean:
	rm -rf out .pytest_cache .hypothesis

# --- serve / stop: a local Prefect server with UI, the `billing` work pool, the deployments of
# prefect.yaml and a worker (README.md, "Operating it"). PIDs and logs in out/prefect/.
PREFECT_PORT ?= 4200

.PHONY: serve stop

serve: install
	PREFECT_PORT=$(PREFECT_PORT) bash ops/serve.sh

stop:
	bash ops/stop.sh

# --- bench: the 10k / 100k / 1M benchmark with baseline, floor and the Excel row limit
# (benchmarks/README.md; about 6 minutes; not part of `make test`).
.PHONY: bench

bench: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py --boundary $(BENCH_ARGS)

# --- test-fast / lint: the loop while developing (README.md, "Tests"). test-fast leaves out what
# needs a database server, Prefect, the e2e stack or a whole job (markers set in
# tests/conftest.py), and the modules of flows/ that hold no doctest (their tests import what
# they need; collecting them as doctest modules imports Prefect for nothing), and the e2e flows;
# hypothesis draws the `dev` profile's examples, on FAST_WORKERS processes (pytest-xdist; 0 runs
# them in this one). lint: ruff and the layer contracts.
FAST_WORKERS ?= 2
FAST_MARKERS := not db and not prefect and not e2e and not slow
FAST_IGNORE := $(addprefix --ignore=,$(shell grep -L '>>> ' flows/*.py flows/*/*.py)) \
	--ignore=tests/e2e_flows.py

.PHONY: test-fast lint

test-fast: install
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-dev} $(TEST_ENV) \
		$(BIN)/python -m pytest -q -m "$(FAST_MARKERS)" $(FAST_IGNORE) -n $(FAST_WORKERS) \
		--dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
