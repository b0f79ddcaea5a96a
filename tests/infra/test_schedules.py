"""The catalog's schedule form converts to Airbyte's Quartz cron and to Kubernetes cron, `continuous` included."""

from __future__ import annotations

import pytest

from infra.model.catalog import Schedule, load_catalog
from infra.model.schedules import MOST_FREQUENT_QUARTZ, kubernetes_cron, quartz_cron


@pytest.mark.parametrize(("every", "at", "quartz", "kubernetes"), [
    ("5m", None, "0 0/5 * * * ?", "*/5 * * * *"),
    ("30m", None, "0 0/30 * * * ?", "*/30 * * * *"),
    ("1h", None, "0 0 * * * ?", "0 * * * *"),
    ("6h", None, "0 0 0/6 * * ?", "0 */6 * * *"),
    ("1d", None, "0 0 0 * * ?", "0 0 * * *"),
    ("1d", "01:30", "0 30 1 * * ?", "30 1 * * *"),
    ("continuous", None, "0 * * * * ?", "* * * * *"),
])
def test_each_form_converts_per_target(every, at, quartz, kubernetes):
    schedule = Schedule(every=every, at=at)
    assert quartz_cron(schedule) == quartz
    assert kubernetes_cron(schedule) == kubernetes


def test_every_catalog_schedule_is_a_quartz_expression_airbyte_accepts():
    catalog = load_catalog()
    for schedule in [source.schedule for source in catalog.sources] + [catalog.transformations.schedule]:
        fields = quartz_cron(schedule).split()
        assert len(fields) == 6 and fields[0] == "0" and "?" in (fields[3], fields[5])
        assert len(kubernetes_cron(schedule).split()) == 5


def test_continuous_is_the_most_frequent_schedule():
    assert quartz_cron(Schedule(every="continuous")) == MOST_FREQUENT_QUARTZ == quartz_cron(Schedule(every="1m"))
