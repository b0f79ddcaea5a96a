# dbt targets, included by the top-level Makefile. dbt has its own virtualenv (.venv-dbt): dbt-core 1.11
# needs protobuf 6, which the Pulumi policy SDK in .venv cannot share.
#   make pipeline [ORDERS=100000] [SEED=42] [DBT_TARGET=local]   generate bronze data, dbt build, summary
#   make dbt-bench [BENCH_ORDERS=1000000,10000000]               dbt build beside the SQL floor, parity at 100k
#   make dbt-docs                                                dbt docs generate (local target)

DBT_VENV := .venv-dbt
DBT_PY := $(DBT_VENV)/bin/python
DBT_STAMP := $(DBT_VENV)/.installed
DBT_TOOL := PYTHONPATH=dbt $(DBT_PY) -m tooling
ORDERS ?= 100000
SEED ?= 42
DBT_TARGET ?= local
BENCH_ORDERS ?= 1000000,10000000

.PHONY: dbt-setup pipeline dbt-bench dbt-docs dbt-sources

$(DBT_STAMP): dbt/requirements.txt pyproject.toml
	@echo "setup: creating $(DBT_VENV) (dbt-core, dbt-duckdb, dbt-postgres, dbt-dremio)"
	@test -x $(DBT_PY) || python3 -m venv $(DBT_VENV)
	@$(DBT_PY) -m pip install --quiet --disable-pip-version-check -r dbt/requirements.txt
	@$(DBT_PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

dbt-setup: $(DBT_STAMP)

pipeline: $(DBT_STAMP)
	@$(DBT_TOOL).pipeline --orders "$(ORDERS)" --seed "$(SEED)" --target "$(DBT_TARGET)"

dbt-bench: $(DBT_STAMP)
	@$(DBT_TOOL).bench --orders "$(BENCH_ORDERS)"

dbt-docs: $(DBT_STAMP)
	@$(DBT_TOOL).docs

dbt-sources: $(DBT_STAMP)
	@$(DBT_TOOL).bronze_sources
