"""User-facing errors: one message that names the key path, the bad value and what is allowed."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(Exception):
    """A stack config or catalog problem the user can fix; printed without a traceback, exit code 2."""


def format_validation_error(error: ValidationError, origin: str, key_prefix: str = "") -> str:
    """Render pydantic errors as `origin: <key_prefix>key.path: message (got value)` lines."""
    lines = []
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        elif detail["type"] == "missing":
            message = "required key is missing"
        got = detail.get("input")
        shown = "" if detail["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f" (got {got!r})"
        where = f"{key_prefix}{path}: " if path else ""
        lines.append(f"{origin}: {where}{message}{shown}")
    return "\n".join(lines)
