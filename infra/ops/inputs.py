"""What the restore tools share about their input: the error that stops a tool before it acts (exit 2), and a
point in time given on the command line, which must say its zone."""

from __future__ import annotations

from datetime import datetime


class InputError(Exception):
    """The request cannot be carried out as given."""


def parse_time(text: str, option: str) -> datetime:
    """`text` (ISO 8601 with a zone, e.g. 2026-12-01T09:30:00Z) as an aware datetime; InputError naming `option`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InputError(f"{option} {text!r} is not an ISO 8601 time ({error})") from None
    if moment.tzinfo is None:
        raise InputError(f"{option} {text!r} has no time zone: add Z for UTC or an offset such as +01:00")
    return moment
