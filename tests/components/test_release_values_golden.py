"""Every shared-service chart's values per stack match the reviewed golden files (UPDATE_GOLDEN=1 rewrites them).

Regenerate after an intended change: `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/components/
test_release_values_golden.py`, then review the diff of tests/components/golden/ like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from components.kit.release import ProductRelease
from components.runtime.component import releases
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def runtime_releases(stack: str) -> list[ProductRelease]:
    config = parse_stack_config(project_values(load_stack(stack).config), stack)
    return releases(config.kubernetes, config.identity, config.storage)


CASES = [(stack, spec.name) for stack in ("dev", "prod") for spec in runtime_releases(stack)]


@pytest.mark.parametrize(("stack", "release"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_values_match_golden(stack: str, release: str) -> None:
    (spec,) = [spec for spec in runtime_releases(stack) if spec.name == release]
    rendered = yaml.safe_dump({"chart": spec.chart, "values": spec.rendered_values()}, sort_keys=True, width=120)
    path = GOLDEN / stack / f"{release}.yaml"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text()


def test_no_stale_golden_files() -> None:
    expected = {f"{stack}/{release}.yaml" for stack, release in CASES}
    present = {str(path.relative_to(GOLDEN)) for path in GOLDEN.rglob("*.yaml")}
    assert present == expected
