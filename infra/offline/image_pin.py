"""Moves a vendor image's tag where the program pins it, proved by what the stacks then deploy.

    python -m infra.offline.image_pin docker.io/valkey/valkey 9.1.4 9.1.5     (make image-pin IMAGE=... FROM=... TO=...)

The vendor lock (images/vendor.lock.json) lists every vendor image the stacks deploy, but the tag is written where
its product sets it: a reference string (`"ghcr.io/cloudnative-pg/postgresql:15.14-bookworm"`), a chart's image
object (`"tag": "9.1.4"`), a config default (`default="26.0.0"`), a stack file. When Renovate proposes a new tag
for a lock entry (.github/renovate.json), this finds that place: each string literal in the program's sources
(components/, infra/ but its offline tooling, Pulumi.*.yaml) that is the old tag, or a reference to the image at
the old tag, is a candidate; references and literals on a line that names the image come first. A candidate is
kept only when planning the stacks under mocks (as `make image-lock` does) then deploys fewer of the image at the
old tag, more at the new one, and changes no other image but from the old tag to the new (Dremio's community and
enterprise images share one setting); otherwise it is put back. It stops when no stack deploys the old tag.

Exit 0 when the stacks deploy the image at the new tag and nowhere at the old one (also when that was already
so); 1 naming every candidate tried when no set of candidates gets there; 2 for bad arguments. It edits only the
files of kept candidates, and never the locks: `make image-lock` rewrites the vendor lock afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.model.images import canonical_repository, parse_reference

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("components", "infra")
SKIPPED_DIRS = ("infra/offline", "infra/e2e")
LITERAL = re.compile(r"""(?P<quote>["'])(?P<body>[^"'\n]*)(?P=quote)""")
YAML_SCALAR = re.compile(r"""(?P<lead>:\s+)(?P<body>[^\s"'#{}\[\],]+)\s*(?:#.*)?$""")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

# What the stacks deploy, counted by `repository:tag`: the same collection as `make image-lock`, run in a fresh
# interpreter so that each attempt imports the sources as they are on disk.
_COLLECT = """
import json, sys
from collections import Counter
from pathlib import Path
from infra.offline.image_lock import stack_images, stacks
counts = Counter(image.key for stack in stacks(Path(sys.argv[1])) for image in stack_images(stack))
print(json.dumps(counts))
"""


class PinError(Exception):
    """The tag could not be moved; the message says what was tried."""


@dataclass(frozen=True)
class Candidate:
    path: Path
    line: int
    start: int
    end: int
    """Offsets of the literal's body in the file's text."""
    column: int
    old: str
    new: str
    rank: int

    def describe(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}: {self.old!r}"


def collect_deployed(root: Path) -> Counter[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", _COLLECT, str(root)], cwd=root, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise PinError(f"planning the stacks under mocks failed:\n{result.stderr[-3000:]}")
    return Counter(json.loads(result.stdout.strip().splitlines()[-1]))


def source_files(root: Path) -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        for path in sorted((root / directory).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (path.suffix in (".py", ".yaml", ".yml") and path.is_file() and "__pycache__" not in relative
                    and not relative.startswith(SKIPPED_DIRS)):
                yield path
    yield from sorted(root.glob("Pulumi.*.yaml"))


def _replacement(body: str, repository: str, old: str, new: str) -> tuple[str, int] | None:
    """The literal's new text and its rank (0 a reference to the image, 1 the bare tag), or None."""
    if body == old:
        return new, 1
    name, colon, tag = body.rpartition(":")
    if colon and tag == old and "/" not in tag and name and parse_reference(body).repository == repository:
        return f"{name}:{new}", 0
    return None


def candidates(root: Path, repository: str, old: str, new: str) -> list[Candidate]:
    short = repository.rsplit("/", 1)[-1]
    found: list[Candidate] = []
    for path in source_files(root):
        text = path.read_text()
        offset = 0
        for number, line in enumerate(text.splitlines(keepends=True), start=1):
            matches = [(match.start("body"), match.group("body")) for match in LITERAL.finditer(line)]
            if path.suffix in (".yaml", ".yml") and (scalar := YAML_SCALAR.search(line.rstrip("\n"))):
                matches.append((scalar.start("body"), scalar.group("body")))
            for column, body in matches:
                replaced = _replacement(body, repository, old, new)
                if replaced is None:
                    continue
                text_after, rank = replaced
                if rank == 1 and short in line:
                    rank = 0
                found.append(Candidate(path, number, offset + column, offset + column + len(body), column, body,
                                       text_after, rank))
            offset += len(line)
    return sorted(found, key=lambda candidate: (candidate.rank, str(candidate.path), candidate.line))


def _apply(candidate: Candidate) -> str:
    text = candidate.path.read_text()
    if text[candidate.start:candidate.end] != candidate.old:
        raise PinError(f"{candidate.path} changed while pinning")
    candidate.path.write_text(text[:candidate.start] + candidate.new + text[candidate.end:])
    return text


def _progress(before: Counter[str], after: Counter[str], repository: str, old: str, new: str) -> bool:
    """Whether `after` moved the image towards the new tag and changed no other image but from old to new."""
    old_key, new_key = f"{repository}:{old}", f"{repository}:{new}"
    if not (after[old_key] < before[old_key] and after[new_key] > before[new_key]):
        return False
    for key in set(before) | set(after):
        if before[key] == after[key] or key in (old_key, new_key):
            continue
        image = parse_reference(key)
        if image.tag not in (old, new):
            return False
    return True


def move(root: Path, image: str, old: str, new: str,
         collect: Callable[[Path], Counter[str]] = collect_deployed, log: Callable[[str], None] = print) -> list[str]:
    """Moves `image` from tag `old` to `new` in the program's sources under `root`; returns the places changed."""
    repository = canonical_repository(image.partition("@")[0])
    for tag in (old, new):
        if not TAG.match(tag):
            raise ValueError(f"not an image tag: {tag!r}")
    old_key, new_key = f"{repository}:{old}", f"{repository}:{new}"
    deployed = collect(root)
    if deployed[old_key] == 0:
        if deployed[new_key]:
            log(f"image-pin: the stacks already deploy {new_key} and not {old_key}; nothing to move")
            return []
        raise PinError(f"no stack deploys {old_key}")
    changed: list[str] = []
    tried: dict[tuple[Path, int, int], str] = {}
    # Candidates are found again after each kept edit: an edit moves the offsets after it in its file.
    while (untried := [candidate for candidate in candidates(root, repository, old, new)
                       if (candidate.path, candidate.line, candidate.column) not in tried]):
        candidate = untried[0]
        previous = _apply(candidate)
        after = collect(root)
        if _progress(deployed, after, repository, old, new):
            log(f"image-pin: {candidate.describe(root)} -> {candidate.new!r}")
            changed.append(candidate.describe(root))
            deployed = after
            if deployed[old_key] == 0:
                return changed
        else:
            candidate.path.write_text(previous)
            tried[(candidate.path, candidate.line, candidate.column)] = candidate.describe(root)
    what = "; ".join(tried.values()) if tried else "no literal names it"
    raise PinError(f"the stacks still deploy {old_key} ({deployed[old_key]} times) after every candidate: {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.image_pin", description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="the image's repository as the vendor lock names it (docker.io/valkey/valkey)")
    parser.add_argument("old", help="the tag the program pins now")
    parser.add_argument("new", help="the tag to pin")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository holding the program")
    args = parser.parse_args(argv)
    try:
        move(args.root.resolve(), args.image, args.old, args.new)
    except ValueError as error:
        print(f"image-pin: {error}", file=sys.stderr)
        return 2
    except PinError as error:
        print(f"image-pin: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
