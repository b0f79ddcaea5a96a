"""Golden files: reviewed renderings kept under tests/golden/, compared byte for byte.

`UPDATE_GOLDEN=1` rewrites the files a run compares instead of failing; review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_ROOT = Path(__file__).resolve().parents[1] / "golden"


def updating() -> bool:
    return os.environ.get("UPDATE_GOLDEN") == "1"


def check_golden(relative: str, text: str) -> None:
    """`text` must equal the golden file `tests/golden/<relative>` (written instead under UPDATE_GOLDEN=1)."""
    path = GOLDEN_ROOT / relative
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{path} differs; run with UPDATE_GOLDEN=1 and review the diff"
