"""A failed check of the render stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A check that failed. `key` is stable across runs (no message text), so a test can name a known defect."""

    check: str
    """`render`, `values-schema`, `dependency`, `kube-version`, `manifest`, `kubernetes-schema`, `crd-schema`,
    `ownership` or `install-order`."""
    subject: str
    """The release, or the declared resource, the problem belongs to."""
    key: str
    message: str

    @property
    def id(self) -> str:
        return f"{self.check}/{self.key}"
