"""The one user-facing error: every problem of the inputs on its own line, naming the file, the key path, what is
allowed and the value given.

A line reads `<file>: <key path>: <what is allowed or wrong> (got <value>)`. Key paths are written as the user
writes them: `dataplatform:ingestion.sources.orders_db.host` in a stack file, `sources[postgres].streams[orders]`
in the catalog (list items by their `name`, never by position).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr, ValidationError


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The value of a problem whose key is absent (no `(got ...)` is shown)."""
SECRET_KEYS = frozenset({"password"})
"""Keys whose values are secrets: a problem names them but never shows their value."""


class ConfigError(Exception):
    """A stack config or catalog problem the user can fix; printed without a traceback, exit code 2."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inputs, under the key path it concerns."""

    path: str
    """Dotted key path relative to what was validated (`storage.minio.server`, `sources[api].schedule.every`)."""
    message: str
    """What is allowed, or what is wrong and how to fix it."""
    value: Any = MISSING
    """The value given; MISSING when the key is absent or the value is not worth repeating."""


class InputError(ValueError):
    """Raised by a model validator: one or more problems, each under its key path relative to that model."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(f"{problem.path}: {problem.message}" for problem in problems))
        self.problems = problems


# The password of a URL's user information (`scheme://user:password@host`).
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)(?P<password>[^\s/?#]+)"
                          r"(?=@[^\s/?#@]*(?:[/?#\s]|$))", re.IGNORECASE)


def url_password(text: str) -> bool:
    """Whether `text` holds a URL with a password in it."""
    return bool(URL_PASSWORD.search(text))


def mask_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `****`, so a message never shows one."""
    return URL_PASSWORD.sub(lambda match: f"{match['head']}****", text)


def shown(value: Any) -> str:
    """A value as the user wrote it: strings quoted, booleans and null as in YAML, lists and numbers as JSON; a
    URL's password masked."""
    if isinstance(value, SecretStr):
        return "[secret]"
    if isinstance(value, str):
        return repr(mask_url_passwords(value))
    if value is None or isinstance(value, bool | int | float | list):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return repr(value)
    return repr(value)


def problem_line(origin: str, prefix: str, problem: Problem) -> str:
    """`<origin>: <prefix><path>: <message> (got <value>)`; no key when the path is empty."""
    where = f"{prefix}{problem.path}: " if problem.path else ""
    last = problem.path.rsplit(".", 1)[-1]
    got = ""
    if problem.value is not MISSING and not isinstance(problem.value, dict):
        got = " (got [secret])" if last in SECRET_KEYS else f" (got {shown(problem.value)})"
    return f"{origin}: {where}{problem.message}{got}"


def config_error(origin: str, problems: Iterable[Problem], prefix: str = "") -> ConfigError:
    """One ConfigError holding one line per problem, in the order given."""
    return ConfigError("\n".join(problem_line(origin, prefix, problem) for problem in problems))


def key_path(loc: Sequence[str | int], document: Any) -> str:
    """A pydantic location as the user reads it in `document`: list items by their `name` where they have one.

    `("sources", 0, "streams", 1, "cursor_field")` -> `sources[postgres].streams[orders].cursor_field`;
    items without a name keep their position (`subnetIds[1]`).
    """
    path = ""
    node = document
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the path already names the key
            continue
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            path += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
            node = item
        else:
            path += f".{part}" if path else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return path


def validation_problems(error: ValidationError, document: Any) -> list[Problem]:
    """Pydantic's errors as problems: key paths by name, validators' own problems under their keys."""
    problems: list[Problem] = []
    for detail in error.errors():
        loc = tuple(detail["loc"])
        base = key_path(loc, document)
        raised = (detail.get("ctx") or {}).get("error")
        if isinstance(raised, InputError):
            for problem in raised.problems:
                joined = ".".join(part for part in (base, problem.path) if part)
                problems.append(Problem(joined.replace(".[", "["), problem.message, problem.value))
            continue
        kind = detail["type"]
        message = detail["msg"].removeprefix("Value error, ")
        value = detail.get("input", MISSING)
        if kind == "extra_forbidden":
            message, value = "unknown key; remove it or check its spelling", MISSING
        elif kind == "missing":
            message, value = "required key is missing", MISSING
        problems.append(Problem(base, message, value))
    return problems
