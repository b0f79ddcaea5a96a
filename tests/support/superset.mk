# The real Superset server the presentation tests start: its virtualenv, built once (stamped by the
# requirements' hash). Include from the Makefile and add `superset-setup` to `setup`.
.PHONY: superset-setup
superset-setup: $(STAMP)
	@$(PY) -c "from tests.support.superset import ensure_venv; ensure_venv()"
