# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast deploy-test install lint bench bench-scale bench-soak bench-serving serve clean-state

run: $(STAMP)  ## set up, then start the Dagster UI + daemon + MLflow UI and run the pipeline
	$(BIN)/housing-dev

serve: $(STAMP)  ## MLflow's scoring server for the champion on http://127.0.0.1:5001 (POST /invocations)
	$(BIN)/python -m housing_assets.serving

test: $(STAMP)  ## set up, then run the whole test suite
	$(BIN)/ruff check housing_assets housing_assets_tests benchmarks data
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)  ## the inner loop: lint and every test that starts no server and no browser
	$(BIN)/ruff check housing_assets housing_assets_tests benchmarks data
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not e2e and not browser and not deploy"

deploy-test: $(STAMP)  ## PostgreSQL, MLflow server, code server, webserver, daemon: no Docker
	$(BIN)/pytest -m deploy

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check housing_assets housing_assets_tests benchmarks data
	$(BIN)/ruff format --check housing_assets housing_assets_tests benchmarks data

bench: $(STAMP)  ## benchmark scripts; each prints its figures
	$(BIN)/python benchmarks/bench_eda.py
	$(BIN)/python benchmarks/bench_models.py

bench-scale: $(STAMP)  ## the whole graph from the CLI at 1x, 10x, 100x vs the plain reference (~15 min)
	$(BIN)/python benchmarks/bench_pipeline.py --scales 1 10 100 --repeats 3

bench-soak: $(STAMP)  ## a 1x run on a state with a day of history against a fresh one (~12 min)
	$(BIN)/python benchmarks/bench_soak.py --repeats 3

bench-serving: $(STAMP)  ## the champion's scoring server against the plain sklearn booster
	$(BIN)/python benchmarks/bench_serving.py

clean-state:  ## delete the run state (.housing/ or $HOUSING_HOME)
	rm -rf $${HOUSING_HOME:-.housing}
