"""Shared fixtures: run the program (or a component) under mocks with a stack's real config files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.model.stackfiles import load_stack
from infra.offline.harness import Recording, run_program

_CACHE: dict[tuple[str, bool], Recording] = {}


def run_stack(stack: str, overrides: dict[str, Any] | None = None, preview: bool = False) -> Recording:
    """A fresh run of the whole program for `stack`, with `<namespace>:<key>` overrides (None removes)."""
    from infra.program import main

    settings = load_stack(stack)
    if overrides:
        settings = settings.with_overrides(overrides)
    return run_program(main, settings, preview=preview)


@pytest.fixture(scope="session")
def stack_recording() -> Callable[..., Recording]:
    """Recordings of the unmodified stacks, shared across tests (treat them as read-only)."""

    def get(stack: str, preview: bool = False) -> Recording:
        key = (stack, preview)
        if key not in _CACHE:
            _CACHE[key] = run_stack(stack, preview=preview)
        return _CACHE[key]

    return get


@pytest.fixture()
def dev(stack_recording) -> Recording:
    return stack_recording("dev")


@pytest.fixture()
def prod(stack_recording) -> Recording:
    return stack_recording("prod")
