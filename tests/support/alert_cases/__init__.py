"""Unit-test cases of the plan's alert rules for `promtool test rules` (tests/support/promtool.py), one module per
group of alerts; `CASES` is all of them. Each alert has at least one firing and one silent case, over series with
the exporters' real metric and label names (each module cites where they come from)."""

from __future__ import annotations

from tests.support.alert_cases import backups, base, products
from tests.support.promtool import AlertCase

CASES: list[AlertCase] = [*base.CASES, *backups.CASES, *products.CASES]
