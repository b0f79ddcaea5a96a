"""Tooling around the dbt project: sample data, the one-command pipeline, the PostgreSQL loader, run history and
the benchmark. Run from the repository root as `PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.<module>`."""
