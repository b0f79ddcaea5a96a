# The single entry point. Every target sets up what it needs on first use.
#   make plan STACK=dev     offline plan + policy gate (no CLI, no credentials)
#   make render STACK=dev   every Helm release of the plan rendered from the chart cache and checked
#   make test               the test suite (make test-slow: the real-Superset suite and the restore drill)
#   make setup              the system packages the tests need (apt-get, as root) and the virtualenvs
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
STAMP := $(VENV)/.installed


.PHONY: help setup system-packages plan evidence plan-bench plan-compare plan-diff config-mutants security-mutants test test-slow test-fast lint format \
	lock clean config-docs mart-assets chart-lock image-lock require-digests chart-cache render nca-setup network \
	image-pin e2e-smoke restore-objects postgres-restore es-restore \
	dremio-restore logs-setup logs-search rotate-keys

help:
	@echo "make plan STACK=<dev|prod>  offline plan and policy gate -> build/plan/<stack>.json"
	@echo "make evidence STACK=<stack> [DATE=YYYY-MM-DD]   what the pack judged, per policy and resource, for"
	@echo "                            auditors -> build/evidence/<stack>.{md,json,html} (docs/policies.md)"
	@echo "make plan-bench STACK=prod  the plan's wall time and memory over 5 fresh runs (target 3 s)"
	@echo "make plan-compare BASE=<git ref> STACK=<stack>   plan a ref and the working tree, list what differs"
	@echo "make plan-compare BEFORE=<plan.json> AFTER=<plan.json>   compare two plan files"
	@echo "make plan-diff BASE=<git ref> [STACK=<stack>]   the reviewer's diff against a ref, weakened enforcement"
	@echo "                            first -> build/plan-diff/ (both stacks unless STACK is given; docs/ci.md)"
	@echo "make config-mutants         break every key of the stack files and the catalog; plan each accepted one"
	@echo "make security-mutants       realistic security mistakes and secure variants, judged by the pack"
	@echo "make chart-cache [SOURCES=<dir>]  fill the chart cache (~/.cache/dataplatform/charts) from the chart"
	@echo "                            repositories, else from source checkouts in <dir> (<owner>+<name>/repo)"
	@echo "make render STACK=<stack>   render every release of the plan from the chart cache and check it"
	@echo "                            -> build/render/<stack>/ (docs/render.md); GATE=1: the pack judges it too"
	@echo "make network STACK=<stack>  the NetworkPolicies against the vendors' flows, by network-config-analyzer"
	@echo "make test                   every test but the real-Superset suite (sets up on first use)"
	@echo "make test-slow              the real-Superset suite and the PostgreSQL restore drill"
	@echo "make lint                   ruff, workflow schema and security lint"
	@echo "make pipeline [ORDERS=N]    generate bronze data and run dbt on the embedded default (DuckDB)"
	@echo "make dbt-bench / dbt-docs   dbt build beside the hand-written SQL floor, 1M and 10M orders / dbt docs"
	@echo "make policy-docs            regenerate docs/policies.md from the pack"
	@echo "make policy-config          write the program's chart facts into policies/config/<stack>.json"
	@echo "make config-docs            regenerate the README's configuration table from the stack config model"
	@echo "make mart-assets            write dbt's reflection models and Superset's datasets from the catalog's marts"
	@echo "make chart-lock [ARGS=...]  each pinned chart's digest from its repository's index -> infra/model/charts.lock.json"
	@echo "make image-lock             the vendor images every stack deploys -> images/vendor.lock.json (CI adds digests)"
	@echo "make image-pin IMAGE=<repository> FROM=<tag> TO=<tag>   move a vendor image's tag where the program pins it"
	@echo "make e2e-smoke              the smoke test through a running dev platform (docs/ci.md, end to end)"
	@echo "make restore-objects ARGS=\"--bucket B --prefix P --at TIME [--dry-run]\"   lake objects back to TIME"
	@echo "make postgres-restore STACK=<stack> [ARGS=\"--at TIME\"]   the metadata database's restore, from the plan"
	@echo "make es-restore ARGS=\"list | restore --indices PATTERN [--dry-run]\"   log and audit indices from snapshots"
	@echo "make logs-search STACK=<stack> [SERVICE=<svc>] FROM=<day|time> TO=<day|time> [MATCH=<text>] [JSON=1]"
	@echo "                            the platform's logs in the lake's logs layer, by DuckDB (docs/metadata-and-logs.md)"
	@echo "make dremio-restore STACK=<stack> ARGS=\"--backup dremio_backup_<yyyy-MM-dd_HH.mm>\"   Dremio's restore Job"
	@echo "make require-digests STACK=prod   plan, then fail when an image has no digest (what the prod deploy runs)"
	@echo "make setup                  system packages the tests need (as root, with apt-get) and the virtualenvs"
	@echo "make system-packages        only the system packages (PostgreSQL 15 with pgaudit, openssl, a JRE)"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@echo "setup: creating $(VENV) (pulumi SDKs, pydantic, test tools)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . > $(VENV)/editable-install.log 2>&1 \
		|| { cat $(VENV)/editable-install.log; exit 1; }
	@touch $@

setup: system-packages $(STAMP) policy-venv dbt-setup nca-setup barman-setup logs-setup

# Installs what tests/support/system.py lists as missing when it runs as root with apt-get; otherwise it prints
# the command, and the tests that need a missing package skip naming it (with CI=true they fail instead).
system-packages:
	@$(PYTHON) -m tests.support.system install

# DATE=YYYY-MM-DD judges the exemptions of policies/config/<stack>.json on that day (default: today, UTC).
plan: $(STAMP) policy-venv
	@$(PY) -m infra.offline.plan --stack $(STACK) $(if $(DATE),--date $(DATE))

# Exit codes (docs/policies.md#evidence): 0 no mandatory violation, 1 a mandatory violation (the report is written),
# 2 bad input, 3 the policy gate could not run. DATE=YYYY-MM-DD judges the exemptions on that day.
evidence: $(STAMP) policy-venv
	@$(PY) -m infra.offline.evidence --stack $(STACK) $(if $(DATE),--date $(DATE))

plan-bench: $(STAMP) policy-venv
	@$(PY) -m infra.offline.plan_bench --stack $(STACK)

plan-compare: $(STAMP) policy-venv
	@if [ -n "$(BASE)" ]; then $(PY) -m infra.offline.plan_compare --base "$(BASE)" --stack $(STACK); \
	else $(PY) -m infra.offline.plan_compare "$(BEFORE)" "$(AFTER)"; fi

# Exit codes (docs/ci.md): 0 no difference, 1 differences, 2 bad input (an unknown ref), 3 a plan could not run;
# make reports any non-zero as its own failure, so CI reads build/plan-diff/summary.json instead.
plan-diff: $(STAMP) policy-venv
	@$(PY) -m infra.offline.plan_diff --base "$(BASE)" $(if $(filter command line,$(origin STACK)),--stack $(STACK))

config-mutants: $(STAMP) policy-venv
	@$(PY) -m infra.offline.mutants

# Realistic security mistakes and secure variants on each stack's baseline, judged by one long-lived pack
# (infra/offline/security_mutants; tests/policies/mutation runs the same in `make test`).
security-mutants: $(STAMP) policy-venv
	@$(PY) -m infra.offline.security_mutants

# The cache lives outside the repository (DATAPLATFORM_CHART_CACHE overrides where); a chart is never committed.
chart-cache: $(STAMP)
	@$(PY) -m infra.offline.render.cache $(if $(SOURCES),--sources "$(SOURCES)")

# Plans the stack first when build/plan/<stack>.json is missing; GATE=1 also runs the policy pack over every
# rendered object (as the deploy workflow does). Exit codes in docs/render.md.
render: $(STAMP) policy-venv
	@$(PY) -m infra.offline.render --stack $(STACK) $(if $(GATE),--gate)

# network-config-analyzer pins exact versions of PyYAML and networkx that .venv cannot share: its own virtualenv.
NCA_VENV := .venv-nca
NCA_REQUIREMENTS := infra/offline/nca-requirements.txt
NCA_STAMP := $(NCA_VENV)/.installed

$(NCA_STAMP): $(NCA_REQUIREMENTS)
	@echo "setup: creating $(NCA_VENV) (network-config-analyzer)"
	@test -x $(NCA_VENV)/bin/python || $(PYTHON) -m venv $(NCA_VENV)
	@$(NCA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(NCA_REQUIREMENTS)
	@touch $@

nca-setup: $(NCA_STAMP)

# The program's NetworkPolicies against the products' vendor-documented flows -> build/network/<stack>/findings.txt
network: $(STAMP) nca-setup
	@$(PY) -m infra.offline.network --stack $(STACK)

test: setup
	@$(PY) -m pytest -q -n 2 -m "not slow"

test-slow: setup superset-setup
	@$(PY) -m pytest -q -m slow

test-fast: $(STAMP) policy-venv
	@$(PY) -m pytest -q -m "not integration"

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.renovate .github/renovate.json
	@$(VENV)/bin/zizmor --offline --quiet .github/workflows/

format: $(STAMP)
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

# Rewrites the table between the config-table markers in README.md; tests/test_docs.py fails when it drifts.
config-docs: $(STAMP)
	@$(PY) -m infra.offline.config_docs README.md

# Writes each mart's reflection model (dbt/models/reflections/) and Superset dataset
# (components/presentation/assets/datasets/) from infra/dataflow.yaml; tests/infra/test_mart_assets.py fails on drift.
mart-assets: $(STAMP)
	@$(PY) -m infra.offline.mart_assets

# Reads each pinned chart's digest from its repository's index.yaml (HTTPS), or from the sources ARGS names
# (--index CHART=FILE|CLONE, --package CHART=CLONE@REF:PATH); docs/locks.md. `--check` runs in the tests.
chart-lock: $(STAMP)
	@$(PY) -m infra.offline.chart_lock $(ARGS)

# Lists every vendor image the stacks deploy in images/vendor.lock.json, keeping recorded digests; the image-lock
# workflow fills in the digests from the registries. tests/infra/test_image_lock.py fails when the file drifts.
image-lock: $(STAMP)
	@$(PY) -m infra.offline.image_lock

# What Renovate runs after it proposes a new tag for a vendor lock entry (.github/renovate.json): the tag moves where
# the program pins it, proved by planning the stacks under mocks; `make image-lock` then rewrites the lock.
image-pin: $(STAMP)
	@$(PY) -m infra.offline.image_pin "$(IMAGE)" "$(FROM)" "$(TO)"

# The smoke test through a running dev platform (infra/e2e/smoke.py; settings in SMOKE_* variables, README "Run it
# end to end"); pyarrow, for its Arrow Flight query, comes from infra/e2e/requirements.txt.
e2e-smoke: $(STAMP)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r infra/e2e/requirements.txt
	@$(PY) -m infra.e2e.smoke --summary build/e2e/smoke.json

# Lake objects (one key or a prefix) back to a point in time from their S3 versions; docs/backup-and-restore.md.
restore-objects: $(STAMP)
	@$(PY) -m infra.ops.restore_objects $(ARGS)

# The metadata database's restore from the stack's plan: a CloudNativePG recovery Cluster (dev) or the RDS
# point-in-time restore's commands (prod); docs/backup-and-restore.md.
postgres-restore: plan
	@$(PY) -m infra.ops.postgres_restore --stack $(STACK) $(ARGS)

# Dremio's KV store from one of its backups: the restore Job built from the plan's coordinator, written to
# build/restore/<stack>/, and the procedure around it; docs/backup-and-restore.md.
dremio-restore: plan
	@$(PY) -m infra.ops.dremio_restore --stack $(STACK) $(ARGS)

# Log and audit indices back from the Elasticsearch snapshots (beside the live ones, or over them with
# --replace-live); the password in ES_PASSWORD; docs/backup-and-restore.md.
es-restore: $(STAMP)
	@$(PY) -m infra.ops.es_restore $(ARGS)

# The logs search's own virtualenv: DuckDB with its httpfs extension from PyPI (infra/ops/logs-requirements.txt).
LOGS_VENV := .venv-logs
LOGS_REQUIREMENTS := infra/ops/logs-requirements.txt
LOGS_STAMP := $(LOGS_VENV)/.installed

$(LOGS_STAMP): $(LOGS_REQUIREMENTS)
	@echo "setup: creating $(LOGS_VENV) (DuckDB and its httpfs extension)"
	@test -x $(LOGS_VENV)/bin/python || $(PYTHON) -m venv $(LOGS_VENV)
	@$(LOGS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(LOGS_REQUIREMENTS)
	@touch $@

logs-setup: $(LOGS_STAMP)

# The platform's logs in the lake's `logs` layer (read-only credentials in AWS_*; docs/metadata-and-logs.md).
logs-search: $(STAMP) logs-setup
	@$(PY) -m infra.ops.logs_search --stack $(STACK) $(if $(SERVICE),--service "$(SERVICE)") --from "$(FROM)" \
		--to "$(TO)" $(if $(MATCH),--match "$(MATCH)") $(if $(JSON),--json) $(ARGS)

# A new day for the stack's remaining access keys (storage.s3.accessKeysIssued): the next `pulumi up` replaces each
# key; docs/upgrading.md. DATE=YYYY-MM-DD (default today, UTC).
rotate-keys: $(STAMP)
	@$(PY) -m infra.ops.rotate_keys --stack $(STACK) $(if $(DATE),--date $(DATE))

# The prod deploy's refusal (.github/workflows/deploy.yml), for a `pulumi up` run by hand.
require-digests: plan
	@$(PY) -m infra.offline.image_lock require-digests build/plan/$(STACK).json

lock: $(STAMP)
	@echo "# Every transitive dependency of requirements.txt, pinned (regenerate with \`make lock\`)." > constraints.txt
	@$(PY) -m pip freeze --exclude-editable >> constraints.txt

clean:
	rm -rf build .pytest_cache dbt/target dbt/logs

# The pack imports nothing of the program: what it must know of it (each pinned chart's hardening paths) is
# written into its per-stack config from infra/model/charts.py; tests/policies/test_policy_config.py fails on drift.
.PHONY: policy-config
policy-config: $(STAMP)
	@$(PY) -m infra.offline.policy_config

include policies/pack.mk
include dbt/pipeline.mk
include tests/support/superset.mk
include tests/support/barman.mk
