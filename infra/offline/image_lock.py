"""The vendor image lock and the digest checks of every image the stacks deploy (docs/locks.md).

    python -m infra.offline.image_lock [--check]          make image-lock: the lock's entries from the stacks
    python -m infra.offline.image_lock resolve [--refresh]  CI with registry access: fill in the digests
    python -m infra.offline.image_lock require-digests build/plan/prod.json   the prod deploy's refusal

Without a subcommand it runs every stack's program under mocks (as the offline plan does), collects the image of
every container, CloudNativePG cluster and chart values object, and writes images/vendor.lock.json: one entry per
vendor `repository:tag` (the platform's own images are in images/digests.lock.json), a recorded digest kept while
its tag is still deployed, a new tag added with an empty digest, a tag no stack deploys any more dropped. `--check`
writes nothing and exits 1 when the file differs; tests/infra/test_image_lock.py fails the same way.

`resolve` asks each registry (`docker buildx imagetools inspect`, on GitHub's runners as they come) for the digest
of every vendor tag and records the ones still empty; a locked digest whose tag now points elsewhere is reported
and kept (`--refresh` replaces it). It checks that every built platform image is still served at its digest. Any
tag or digest a registry does not serve fails the run (exit 1), which then writes nothing.

`require-digests` reads an offline plan and exits 1, naming them, when any image the stack deploys has no digest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.model.images import (
    DIGEST,
    PLATFORM_LOCK,
    VENDOR_LOCK,
    ImageRef,
    images_in,
    platform_repositories,
    read_lock,
    render_lock,
    undigested,
)

INSPECT_TIMEOUT_SECONDS = 120


class RegistryError(Exception):
    """A registry did not serve a reference; the message says which and why."""


# ---- the lock's entries, from the stacks ---------------------------------------------------------------------


def stack_images(stack: str) -> list[ImageRef]:
    """Every image `stack`'s program deploys, from a run under mocks."""
    from infra.model.stackfiles import load_stack
    from infra.offline.harness import run_program
    from infra.program import main

    recording = run_program(main, load_stack(stack))
    return [image for resource in recording.resources for image in images_in(resource.inputs)]


def stacks(root: Path) -> list[str]:
    return sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in root.glob("Pulumi.*.yaml"))


def vendor_entries(images: Iterable[ImageRef], locked: Mapping[str, ImageRef],
                   platform: frozenset[str]) -> dict[str, ImageRef]:
    """The vendor lock for `images`: each vendor tag once, with the digest already locked for it."""
    entries: dict[str, ImageRef] = {}
    for image in images:
        if image.repository in platform:
            continue
        previous = locked.get(image.key)
        entries[image.key] = ImageRef(image.repository, image.tag, (previous.digest if previous else "")
                                      or image.digest)
    return entries


def sync(check: bool, lock: Path, platform_lock: Path, root: Path,
         collect: Callable[[str], list[ImageRef]] = stack_images) -> int:
    images = [image for stack in stacks(root) for image in collect(stack)]
    locked = read_lock(lock) if lock.exists() else {}
    entries = vendor_entries(images, locked, platform_repositories(platform_lock))
    text = render_lock(entries)
    current = lock.read_text() if lock.exists() else ""
    added, dropped = sorted(set(entries) - set(locked)), sorted(set(locked) - set(entries))
    for key in added:
        print(f"{lock.name}: {key} deployed but not locked")
    for key in dropped:
        print(f"{lock.name}: {key} locked but no stack deploys it")
    if check:
        if text != current:
            print("run `make image-lock` and commit the result", file=sys.stderr)
            return 1
        return 0
    lock.write_text(text)
    missing = undigested(entries.values())
    print(f"image lock: {len(entries)} vendor images, {len(entries) - len(missing)} with a digest -> {lock}")
    return 0


# ---- digests, from the registries ----------------------------------------------------------------------------


def inspect(reference: str) -> str:
    """The digest a registry serves for `reference` (for a multi-platform image, its index's digest)."""
    try:
        result = subprocess.run(["docker", "buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}",
                                 reference], capture_output=True, text=True, timeout=INSPECT_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RegistryError(f"{reference}: {error}") from None
    if result.returncode:
        raise RegistryError(f"{reference}: {(result.stderr.strip().splitlines() or ['not served'])[-1]}")
    try:
        digest = json.loads(result.stdout)["digest"]
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{reference}: no digest in the registry's answer") from None
    if not DIGEST.match(digest):
        raise RegistryError(f"{reference}: {digest!r} is not a sha256 digest")
    return digest


def resolve(vendor: Mapping[str, ImageRef], platform: Mapping[str, ImageRef], refresh: bool,
            lookup: Callable[[str], str] = inspect) -> tuple[dict[str, ImageRef], list[str], list[str]]:
    """(the vendor lock with digests filled in, report lines, failures)."""
    resolved: dict[str, ImageRef] = {}
    lines: list[str] = []
    failures: list[str] = []
    for key, image in sorted(vendor.items()):
        try:
            served = lookup(image.key)
            if image.digest and image.digest != served:
                lookup(f"{image.repository}@{image.digest}")
        except RegistryError as error:
            failures.append(str(error))
            resolved[key] = image
            continue
        if not image.digest:
            lines.append(f"{image.key}: {served} (new)")
            resolved[key] = ImageRef(image.repository, image.tag, served)
        elif image.digest == served:
            lines.append(f"{image.key}: {served}")
            resolved[key] = image
        elif refresh:
            lines.append(f"{image.key}: {served} (the tag moved from {image.digest}; replaced)")
            resolved[key] = ImageRef(image.repository, image.tag, served)
        else:
            lines.append(f"{image.key}: kept {image.digest}; the tag now points to {served} (run with refresh to "
                         "take it)")
            resolved[key] = image
    for name, image in sorted(platform.items()):
        if not image.digest:
            lines.append(f"{name} ({image.key}): not built yet (images workflow)")
            continue
        try:
            lookup(image.key)
            lookup(f"{image.repository}@{image.digest}")
        except RegistryError as error:
            failures.append(f"{name}: {error}")
            continue
        lines.append(f"{name} ({image.key}): {image.digest} served")
    return resolved, lines, failures


# ---- the prod deploy's refusal -------------------------------------------------------------------------------


def plan_images(document: Mapping[str, Any]) -> list[ImageRef]:
    return [image for resource in document.get("resources", []) for image in images_in(resource.get("inputs"))]


def require_digests(plan: Path) -> int:
    try:
        document = json.loads(plan.read_text())
    except (OSError, ValueError) as error:
        print(f"{plan}: no offline plan to read ({error}); run `make plan` first", file=sys.stderr)
        return 2
    images = plan_images(document)
    missing, total = undigested(images), len({image.key for image in images})
    stack = document.get("stack", plan.stem)
    if missing:
        print(f"{stack}: {len(missing)} of {total} images have no digest, and this stack deploys only images pinned "
              "by digest (docs/locks.md):")
        print("\n".join(f"  {key}" for key in missing))
        return 1
    print(f"{stack}: all {total} images are pinned by digest")
    return 0


def main(argv: list[str] | None = None, lookup: Callable[[str], str] = inspect) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.image_lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=VENDOR_LOCK)
    parser.add_argument("--platform-lock", type=Path, default=PLATFORM_LOCK)
    parser.add_argument("--root", type=Path, default=VENDOR_LOCK.parents[1], help="folder holding the stack files")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the lock is stale")
    commands = parser.add_subparsers(dest="command")
    resolving = commands.add_parser("resolve", help="fill in every vendor image's digest from its registry")
    resolving.add_argument("--refresh", action="store_true", help="replace the digest of a tag that moved")
    requiring = commands.add_parser("require-digests", help="exit 1 when an image of a plan has no digest")
    requiring.add_argument("plan", type=Path, help="an offline plan, build/plan/<stack>.json")
    args = parser.parse_args(argv)
    if args.command == "require-digests":
        return require_digests(args.plan)
    if args.command == "resolve":
        resolved, lines, failures = resolve(read_lock(args.lock), read_lock(args.platform_lock), args.refresh, lookup)
        print("\n".join(lines))
        if failures:
            print("not served:\n" + "\n".join(f"  {failure}" for failure in failures), file=sys.stderr)
            return 1
        args.lock.write_text(render_lock(resolved))
        return 0
    return sync(args.check, args.lock, args.platform_lock, args.root)


if __name__ == "__main__":
    sys.exit(main())
