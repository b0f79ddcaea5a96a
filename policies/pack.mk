# The policy pack's own virtualenv, as `PulumiPolicy.yaml` declares it (runtime option `virtualenv: venv`).
# Include from the top-level Makefile: `include policies/pack.mk`; `make policy-venv` is idempotent: the stamp
# is rebuilt only when requirements.txt changes.
POLICY_DIR ?= policies
POLICY_VENV := $(POLICY_DIR)/venv
POLICY_PYTHON := $(POLICY_VENV)/bin/python
POLICY_STAMP := $(POLICY_VENV)/.requirements.stamp
POLICY_BASE_PYTHON ?= python3

.PHONY: policy-venv policy-docs
policy-venv: $(POLICY_STAMP)

$(POLICY_STAMP): $(POLICY_DIR)/requirements.txt
	test -x $(POLICY_PYTHON) || $(POLICY_BASE_PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_PYTHON) -m pip install --quiet --disable-pip-version-check -r $(POLICY_DIR)/requirements.txt
	touch $@

# Regenerate the policy catalogue; tests/policies/test_policy_metadata.py fails when it drifts.
policy-docs:
	.venv/bin/python -m policies.catalogue > docs/policies.md
