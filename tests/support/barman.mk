# The Barman Cloud tools the PostgreSQL restore drill runs: their virtualenv, built once (stamped by the
# requirements' hash), where PostgreSQL's user can run them (tests/support/barman.py). Part of `setup`.
.PHONY: barman-setup
barman-setup: $(STAMP)
	@$(PY) -m tests.support.barman
