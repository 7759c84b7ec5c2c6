# Every target bootstraps what it needs: a fresh clone needs only python3 (3.11+), node and npm.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: demo test test-aws lint typecheck validate-template validate-asl clean bench soak

demo: $(STAMP)
	$(BIN)/tiqets-tracker demo

# Benchmarks (not tests): rewrites BENCHMARKS.md; about 6 minutes on a 2-core machine.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

# Soak (not a test, not in CI): rounds of 200 and 800 concurrent orders with faults on the local
# stack, every order checked; rewrites the figures in RELIABILITY.md. About 13 minutes.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

test: lint typecheck validate-template validate-asl
	$(BIN)/pytest -q

# Opt-in, never part of `make test` or CI: deploys to the AWS account of your credentials, runs
# the demo's scenarios there and deletes everything it made (README, "Proving it on AWS").
# Needs the SAM CLI and Python 3.13 on PATH; about 15 minutes and one US cent a run.
test-aws: $(STAMP)
	$(BIN)/tiqets-tracker test-aws

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate-template: $(STAMP)
	$(BIN)/cfn-lint template.yaml local/aws/test-stack.yaml examples/order_placement/template.yaml

ASL_FILES := $(wildcard statemachine/*.asl.json)

validate-asl: $(NODE_STAMP)
	npx --no-install asl-validator $(foreach file,$(ASL_FILES),--json-path $(file))

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache
