"""dbt's source lineage, read from the dbt project at plan time: which catalog sources the marts are built from.

    mart_sources(load_catalog())   # ("postgres",): the sources whose syncs the batch runs before `dbt build`

The program cannot run dbt (dbt lives in its own virtualenv), so it reads the models' Jinja calls as dbt's parser
does for static refs: `ref('model')`, `ref('package', 'model')` and `source('source', 'table')`, including those in
`-- depends_on:` comments, which dbt also counts. A model with a ref this reading cannot resolve is an error, not a
gap: tests/dbt/test_lineage.py holds the result to the `parent_map` of the manifest `dbt parse` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from infra.model.catalog import PROJECT_ROOT, Catalog
from infra.model.errors import ConfigError

DBT_MODELS = PROJECT_ROOT / "dbt" / "models"
MARTS_FOLDER = "marts"
_QUOTED = r"""\s*['"]([A-Za-z0-9_]+)['"]\s*"""
REF = re.compile(rf"\bref\s*\({_QUOTED}(?:,{_QUOTED})?(?:,\s*[a-z_]+\s*=[^)]*)?\)")
SOURCE = re.compile(rf"\bsource\s*\({_QUOTED},{_QUOTED}\)")
# `config(materialized='...')`, or `materialized=('view' if target.type == 'dremio' else 'table')`: the first literal
# is what the model is on Dremio. Without one, the project's default (dbt_project.yml: `+materialized: table`).
MATERIALIZED = re.compile(r"""\bmaterialized\s*=\s*\(?\s*['"]([a-z_]+)['"]""")
DEFAULT_MATERIALIZED = "table"
# What leaves a physical dataset in Dremio (a table in the write-enabled lake source); views and ephemeral models
# do not.
PHYSICAL = ("table", "incremental")


@dataclass(frozen=True)
class Model:
    name: str
    folder: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    materialized: str = DEFAULT_MATERIALIZED
    """What the model is on the dremio target."""


def read_models(root: Path = DBT_MODELS) -> dict[str, Model]:
    """Every SQL model of the project by name, with the models and source tables it reads."""
    models = {}
    for path in sorted(root.rglob("*.sql")):
        text = path.read_text()
        refs = tuple(sorted({second or first for first, second in REF.findall(text)}))
        sources = tuple(sorted(set(SOURCE.findall(text))))
        found = MATERIALIZED.search(text)
        models[path.stem] = Model(path.stem, path.relative_to(root).parts[0], refs, sources,
                                  found.group(1) if found else DEFAULT_MATERIALIZED)
    return models


def upstream_sources(models: dict[str, Model], names: list[str]) -> set[tuple[str, str]]:
    """The source tables `names` read, directly or through other models."""
    seen: set[str] = set()
    found: set[tuple[str, str]] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        model = models.get(name)
        if model is None:
            raise ConfigError(f"dbt model {name!r} is referenced but no file dbt/models/**/{name}.sql defines it; "
                              "fix the ref or add the model")
        found.update(model.sources)
        pending.extend(model.refs)
    return found


def dremio_tables_under(models: dict[str, Model], name: str) -> list[str]:
    """The nearest physical datasets a model reads on Dremio: its refs that are tables, and through its refs that
    are views or ephemeral, theirs. A view's reflections are refreshed by the policy of these."""
    found: set[str] = set()
    pending, seen = list(models[name].refs), set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if models[ref].materialized in PHYSICAL:
            found.add(ref)
        else:
            pending.extend(models[ref].refs)
    return sorted(found)


def mart_models(models: dict[str, Model]) -> list[str]:
    """The models of the marts folder (what the batch builds for its consumers)."""
    return sorted(name for name, model in models.items() if model.folder == MARTS_FOLDER)


def mart_sources(catalog: Catalog, root: Path = DBT_MODELS) -> tuple[str, ...]:
    """The catalog sources the marts read (through staging and intermediate models), in catalog order. A source
    dbt reads that the catalog does not declare is an error naming both."""
    models = read_models(root)
    used = {source for source, _table in upstream_sources(models, mart_models(models))}
    declared = [source.name for source in catalog.sources]
    unknown = sorted(used - set(declared))
    if unknown:
        raise ConfigError(f"dbt marts read source(s) {', '.join(unknown)} that infra/dataflow.yaml does not declare; "
                          f"declared: {', '.join(declared)}")
    return tuple(name for name in declared if name in used)
