"""Rotate the access keys a stack keeps: set `storage.s3.accessKeysIssued` in `Pulumi.<stack>.yaml` to a new day.

    python -m infra.ops.rotate_keys --stack prod [--date YYYY-MM-DD]
    make rotate-keys STACK=prod [DATE=YYYY-MM-DD]

Every IAM user the storage layer declares on S3 (the identities whose clients take no web identity: the
`exceptions` of policies/config/<stack>.json) has one access key, declared with the `replacement_trigger` option set
to that day: when the day changes, the next `pulumi up` replaces each key (the engine creates the new key first, then
the Kubernetes Secrets that carry it follow, then it deletes the old one; IAM lets a user hold two keys meanwhile).
The day is also each user's `dataplatform:keys-issued` tag, from which the policy pack judges the keys' age
(aws-iam-access-key-configure-rotation: at most 90 days, and never after the evaluation date).

Only the value on the `accessKeysIssued:` line changes; comments and layout stay. A stack without that line (a
MinIO stack, or one that never set it) is refused with what to add, and a date after today is refused. Exit codes:
0 written, 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

from infra.model.stackfiles import REPO_ROOT

KEY = "accessKeysIssued"
LINE = re.compile(rf"^(?P<indent>\s+){KEY}:\s*(?P<value>\S+)?(?P<rest>\s*(#.*)?)$")


class RotationError(ValueError):
    """Bad input: names what is wrong and how to fix it."""


def rotate(text: str, day: datetime.date, stack: str) -> tuple[str, str | None]:
    """`text` with the `accessKeysIssued` value set to `day` (quoted, so every YAML reader sees a string), and the
    value it replaced."""
    lines = text.splitlines(keepends=True)
    found = [index for index, line in enumerate(lines) if LINE.match(line.rstrip("\n"))]
    if len(found) != 1:
        raise RotationError(
            f"Pulumi.{stack}.yaml: expected one `{KEY}:` line under `dataplatform:storage` -> `s3` (found "
            f"{len(found)}); add `{KEY}: \"{day.isoformat()}\"` there (an `s3` stack's access keys only)")
    index = found[0]
    match = LINE.match(lines[index].rstrip("\n"))
    assert match is not None
    old = (match.group("value") or "").strip("'\"") or None
    ending = "\n" if lines[index].endswith("\n") else ""
    lines[index] = f"{match.group('indent')}{KEY}: \"{day.isoformat()}\"{match.group('rest') or ''}{ending}"
    return "".join(lines), old


def main(argv: list[str] | None = None, root: Path = REPO_ROOT, today: datetime.date | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--date", help="the day the new keys are issued (default: today, UTC)")
    args = parser.parse_args(argv)
    today = today or datetime.datetime.now(datetime.UTC).date()
    path = root / f"Pulumi.{args.stack}.yaml"
    try:
        if not path.is_file():
            raise RotationError(f"{path.name}: no such stack file")
        try:
            day = datetime.date.fromisoformat(args.date) if args.date else today
        except ValueError as error:
            raise RotationError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from error
        if day > today:
            raise RotationError(f"--date {day.isoformat()} is after today ({today.isoformat()}); keys cannot be "
                                "issued in the future")
        text, old = rotate(path.read_text(), day, args.stack)
    except RotationError as error:
        print(f"rotate-keys: {error}", file=sys.stderr)
        return 2
    path.write_text(text)
    print(f"rotate-keys {args.stack}: {KEY} {old or '(unset)'} -> {day.isoformat()} in {path.name}; commit it and run "
          "`pulumi up`: each access key is replaced, then the Secrets that carry it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
