"""One clear message per user mistake, printed without a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import wraps


class UsageError(Exception):
    """A problem the user fixes by running something else or passing other arguments (exit code 2)."""


def cli(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's main(): UsageError (and the catalog's ConfigError) become one line on stderr."""
    from infra.model.errors import ConfigError

    @wraps(main)
    def run(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except (UsageError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return run


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str], example: str) -> argparse.Namespace:
    """argparse's result; its own error (already printed) becomes a UsageError naming a correct example."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code:
            raise UsageError(f"invalid arguments (see above); example: {example}") from None
        raise
