"""The platform's own images, pinned from `images/digests.lock.json` (written by .github/workflows/images.yml).

Until CI has built an image its digest is empty and the reference carries the tag only; the pack's
`kubernetes-image-require-digest` reports it (advisory) wherever a workload uses it.
"""

from __future__ import annotations

import json
from pathlib import Path

LOCK_FILE = Path(__file__).resolve().parent.parent / "images" / "digests.lock.json"


def image_references(path: Path = LOCK_FILE) -> dict[str, str]:
    """Image name -> `repository:tag@sha256:...`, or `repository:tag` while no digest is recorded."""
    lock = json.loads(path.read_text())
    references = {}
    for name, entry in sorted(lock.items()):
        reference = f"{entry['repository']}:{entry['tag']}"
        if entry.get("digest"):
            reference += f"@{entry['digest']}"
        references[name] = reference
    return references
