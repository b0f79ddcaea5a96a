"""Every leaf of both stack files and of the catalog, broken each way (wrong type, empty, negative, unknown word,
deleted), is either accepted by the model or refused with a message naming it; a seeded sample of the accepted ones
plans to the end (program and policy gate). `make config-mutants` plans every accepted one.

The sample's seed is printed and goes in every failure message; CONFIG_MUTANTS_SEED repeats a run and
CONFIG_MUTANTS_SAMPLE sets how many accepted mutants are planned (default 4).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from infra.model.config import PROJECT
from infra.offline import mutants

pytestmark = pytest.mark.integration

GROUPS = {
    "dev": lambda mutant: mutant.file == "Pulumi.dev.yaml",
    "prod": lambda mutant: mutant.file == "Pulumi.prod.yaml",
    "catalog-with-dev": lambda mutant: mutant.file == mutants.CATALOG_FILE and mutant.stack == "dev",
    "catalog-with-prod": lambda mutant: mutant.file == mutants.CATALOG_FILE and mutant.stack == "prod",
}
SAMPLE = int(os.environ.get("CONFIG_MUTANTS_SAMPLE") or 4)


@cache
def every_mutant() -> tuple[mutants.Mutant, ...]:
    return tuple(mutants.all_mutants())


def test_mutants_cover_every_key_of_both_stack_files_and_the_catalog():
    found = every_mutant()
    paths = {(mutant.file, mutant.path) for mutant in found}
    for stack in ("dev", "prod"):
        document = mutants.yamlio.load((mutants.REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())
        in_file = {key.removeprefix(f"{PROJECT}:"): value for key, value in document["config"].items()}
        for loc, _ in mutants.leaves(in_file):
            path = f"{PROJECT}:{mutants.key_path(loc, in_file)}"
            kinds = {mutant.kind for mutant in found if (mutant.file, mutant.path) == (f"Pulumi.{stack}.yaml", path)}
            assert "deleted" in kinds and len(kinds) >= 3, (stack, path, kinds)
    # Settings the files leave to the stage and the model are broken too, by writing them into the file.
    assert ("Pulumi.dev.yaml", "dataplatform:lakehouse.slowQuerySeconds") in paths
    assert ("Pulumi.prod.yaml", "dataplatform:logs.nodeSets[data].storageGib") in paths
    catalog = mutants.yamlio.load(mutants.catalog_module.CATALOG_PATH.read_text())
    assert {mutants.key_path(loc, catalog) for loc, _ in mutants.leaves(catalog) if loc} <= {
        path for file, path in paths if file == mutants.CATALOG_FILE}
    assert Counter(mutant.kind for mutant in found).keys() == {"wrong-type", "empty", "negative", "unknown-word",
                                                               "deleted"}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_mutant_is_accepted_or_refused_with_its_key_named(group, tmp_path):
    workspace = mutants.Workspace(tmp_path)
    chosen = [mutant for mutant in every_mutant() if GROUPS[group](mutant)]
    verdicts = [mutants.judge(mutant, workspace) for mutant in chosen]
    crashes = [f"{verdict.mutant.label}\n{verdict.detail}" for verdict in verdicts if verdict.outcome == "crash"]
    assert not crashes, "\n\n".join(crashes)
    outcomes = Counter(verdict.outcome for verdict in verdicts)
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0, outcomes


def source_of(kind: str) -> str:
    return next(source.name for source in mutants.catalog_module.load_catalog().sources if source.kind == kind)


@pytest.mark.parametrize(("kinds", "label", "line"), [
    (("postgres",), "Pulumi.dev.yaml: dataplatform:ingestion.sources.{0}.username: empty = ''",
     "Pulumi.dev.yaml: dataplatform:ingestion.sources.{0}.username: String should have at least 1 character "
     "(got '')"),
    (("rest_api",), "Pulumi.prod.yaml: dataplatform:ingestion.sources.{0}.url: deleted",
     "Pulumi.prod.yaml: dataplatform:ingestion.sources.{0}.url: required for a rest_api source"),
    ((), "Pulumi.dev.yaml: dataplatform:storage.minio.server: empty = ''",
     "Pulumi.dev.yaml: dataplatform:storage.minio.server: String should have at least 1 character (got '')"),
    (("csv_files",), "infra/dataflow.yaml: sources[{0}]: deleted (judged with Pulumi.prod.yaml)",
     "Pulumi.prod.yaml: dataplatform:ingestion.sources.{0}: not a source of "),
    # An item is named as written, even by a name the model refuses.
    ((), "infra/dataflow.yaml: sources[no-such-value].name: unknown-word = 'no-such-value' (judged with "
         "Pulumi.dev.yaml)",
     "sources[no-such-value].name: String should match pattern '^[a-z][a-z0-9_]{{0,62}}$' (got 'no-such-value')"),
    ((), "infra/dataflow.yaml: roles[analyst]: deleted (judged with Pulumi.dev.yaml)",
     "dataflow.yaml: roles: must declare `analyst`: Superset's analyst role is it"),
    ((), "infra/dataflow.yaml: services[dbt].uses[0]: deleted (judged with Pulumi.prod.yaml)",
     "dataflow.yaml: services[dbt].uses: must include `dremio`: dbt works through it (got [\"airbyte\", "
     "\"postgresql\", \"superset\"])"),
])
def test_the_crashes_found_by_mutation_are_refusals_now(kinds, label, line, tmp_path):
    names = [source_of(kind) for kind in kinds]
    label, line = label.format(*names), line.format(*names)
    mutant = next(mutant for mutant in every_mutant() if mutant.label == label)
    verdict = mutants.judge(mutant, mutants.Workspace(tmp_path))
    assert verdict.outcome == "refused"
    assert any(found.startswith(line) or found.endswith(line) for found in verdict.detail.splitlines()), verdict.detail


def test_a_seeded_sample_of_accepted_mutants_plans(tmp_path, capsys, record_property):
    seed = mutants.seed_from_environment()
    record_property("seed", seed)
    with capsys.disabled():
        print(f"\nconfig mutants: sample seed {seed} (repeat with {mutants.SEED_VARIABLE}={seed})")
    workspace = mutants.Workspace(tmp_path)
    candidates = list(every_mutant())
    random.Random(seed).shuffle(candidates)
    planned: list[tuple[mutants.Mutant, int | None, str]] = []
    for mutant in candidates:
        if len(planned) == SAMPLE:
            break
        if mutants.judge(mutant, workspace).outcome == "accepted":
            planned.append((mutant, *mutants.plan(mutant, workspace)))
    failures = [f"{mutant.label}: exit {code}\n{output}" for mutant, code, output in planned if code not in (0, 1)]
    assert len(planned) == SAMPLE, f"seed {seed}: only {len(planned)} accepted mutants"
    assert not failures, f"seed {seed}:\n" + "\n\n".join(failures)
    assert Path(tmp_path / "plans").is_dir()
