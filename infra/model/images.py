"""Image references and the two image locks: every image the cluster runs, and the digest its tag is pinned to.

- `images/digests.lock.json`: the platform's own images, by name. .github/workflows/images.yml builds each one and
  commits its digest.
- `images/vendor.lock.json`: every vendor image the program names (container images, chart values), by
  `repository:tag`. `make image-lock` keeps its entries equal to what the stacks deploy, and
  .github/workflows/image-lock.yml asks each registry for the tag's digest and commits it.

An empty digest is unresolved: the program deploys the tag alone, the offline plan reports it in one advisory
line, and the prod deploy refuses it (docs/locks.md). Standard library only, so the lock workflow runs it on a bare
runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_LOCK = ROOT / "images" / "digests.lock.json"
VENDOR_LOCK = ROOT / "images" / "vendor.lock.json"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_REGISTRY = "docker.io"


def canonical_repository(name: str) -> str:
    """`registry/path`, as a container runtime resolves a short name (`valkey/valkey` -> `docker.io/valkey/valkey`,
    `nginx` -> `docker.io/library/nginx`)."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


@dataclass(frozen=True, order=True)
class ImageRef:
    """One image: canonical repository, tag and, once known, the digest the tag is pinned to."""

    repository: str
    tag: str
    digest: str = ""

    @property
    def key(self) -> str:
        """`repository:tag`: the vendor lock's key."""
        return f"{self.repository}:{self.tag}"

    def __str__(self) -> str:
        return f"{self.key}@{self.digest}" if self.digest else self.key


def parse_reference(text: str) -> ImageRef:
    """`[registry/]path[:tag][@sha256:...]`; no tag means `latest`, as the runtime reads it."""
    name, _, digest = text.partition("@")
    path, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        path, tag = name, "latest"
    return ImageRef(canonical_repository(path), tag, digest)


def image_object(value: Mapping[str, Any]) -> ImageRef | None:
    """A chart's `image` values object (`registry`, `repository`, `tag`, `digest`; a tag may carry `@sha256:...`)."""
    repository, tag = value.get("repository"), value.get("tag")
    if not isinstance(repository, str) or not repository or not isinstance(tag, str) or not tag:
        return None
    registry = value.get("registry")
    name = f"{registry}/{repository}" if isinstance(registry, str) and registry else repository
    tag, _, digest = tag.partition("@")
    explicit = value.get("digest")
    return ImageRef(canonical_repository(name), tag, explicit if isinstance(explicit, str) and explicit else digest)


IMAGE_KEYS = ("image", "imageName")


def images_in(value: Any) -> Iterator[ImageRef]:
    """Every image in wire-form inputs: container `image` and CloudNativePG's `imageName` strings, and the
    `image` objects of chart values, also under a key that names whose image it is (`sidecarImage`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in IMAGE_KEYS and isinstance(item, str) and item:
                yield parse_reference(item)
            elif (key == "image" or key.endswith("Image")) and isinstance(item, dict) and (
                    found := image_object(item)) is not None:
                yield found
            else:
                yield from images_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from images_in(item)


def undigested(images: Iterable[ImageRef]) -> list[str]:
    """The distinct `repository:tag` of the images without a digest, sorted."""
    return sorted({image.key for image in images if not image.digest})


def read_lock(path: Path) -> dict[str, ImageRef]:
    """A lock file's entries (`{"repository", "tag", "digest"}` each), by the file's key."""
    return {key: ImageRef(canonical_repository(entry["repository"]), entry["tag"], entry.get("digest") or "")
            for key, entry in json.loads(path.read_text()).items()}


def render_lock(entries: Mapping[str, ImageRef]) -> str:
    """A lock file's text: sorted keys, one entry a line, as CI and `make image-lock` write it."""
    lines = [f"  {json.dumps(key)}: "
             + json.dumps({"repository": ref.repository, "tag": ref.tag, "digest": ref.digest})
             for key, ref in sorted(entries.items())]
    return "{\n" + ",\n".join(lines) + "\n}\n"


@cache
def vendor_digests(path: Path = VENDOR_LOCK) -> dict[str, str]:
    """`repository:tag` -> digest, for every vendor image whose digest is recorded."""
    if not path.exists():
        return {}
    return {ref.key: ref.digest for ref in read_lock(path).values() if ref.digest}


def platform_repositories(path: Path = PLATFORM_LOCK) -> frozenset[str]:
    """The repositories of the platform's own images (their digests come from the images workflow's build)."""
    return frozenset(ref.repository for ref in read_lock(path).values())
