"""Every shared-service chart's values per stack match the reviewed golden files (UPDATE_GOLDEN=1 rewrites them).

Regenerate after an intended change: `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/components/
test_release_values_golden.py`, then review the diff of tests/golden/releases/ like code.
"""

from __future__ import annotations

import pytest
import yaml

from components import platform
from components.kit.release import ProductRelease
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack
from tests.support.golden import GOLDEN_ROOT, check_golden

RELEASES = GOLDEN_ROOT / "releases"


def runtime_releases(stack: str) -> list[ProductRelease]:
    config = parse_stack_config(project_values(load_stack(stack).config), stack)
    return platform.runtime_releases(config)


CASES = [(stack, spec.name) for stack in ("dev", "prod") for spec in runtime_releases(stack)]


@pytest.mark.parametrize(("stack", "release"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_values_match_golden(stack: str, release: str) -> None:
    (spec,) = [spec for spec in runtime_releases(stack) if spec.name == release]
    rendered = yaml.safe_dump({"chart": spec.chart, "values": spec.rendered_values()}, sort_keys=True, width=120)
    check_golden(f"releases/{stack}/{release}.yaml", rendered)


def test_no_stale_golden_files() -> None:
    expected = {f"{stack}/{release}.yaml" for stack, release in CASES}
    present = {str(path.relative_to(RELEASES)) for path in RELEASES.rglob("*.yaml")}
    assert present == expected
