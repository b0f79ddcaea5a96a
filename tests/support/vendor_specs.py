"""The vendors' own API definitions, beside the project at `../shared/vendor-specs/` (never copied into it).

A test that needs one skips, naming the missing file, when run outside a checkout that has them; under CI
(`CI=true`) a missing definition fails the test instead, so a check against the vendor cannot silently vanish.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.system import in_ci

VENDOR_SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "vendor-specs"


def vendor_spec_path(relative: str) -> Path:
    """The file `vendor-specs/<relative>`: skips the test when it is missing, fails it under CI."""
    path = VENDOR_SPECS / relative
    if not path.is_file():
        message = f"vendor definition {path} is missing (expected beside the project in shared/vendor-specs/)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def vendor_spec(relative: str) -> dict[str, Any]:
    """The JSON definition at `vendor-specs/<relative>`."""
    return json.loads(vendor_spec_path(relative).read_text())
