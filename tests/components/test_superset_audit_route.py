"""Superset's event lines, as its configured event logger prints them, reach the audit index through the rendered
Fluent Bit config as documents that fit the audit mapping; its other output in the namespace is not shipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from components.logs import spec as logs_spec
from components.presentation.spec import CONFIG_OVERRIDES
from tests.support.fluentbit import FluentBit, platform_shipper

TIME = datetime(2026, 11, 20, 10, 15, 2, 345000, tzinfo=UTC)
SUPERSET_POD = {"namespace_name": "dp-presentation", "pod_name": "superset-7d9f-abcde", "container_name": "superset",
                "labels": {"app": "superset"}}
AUDIT = logs_spec.AUDIT_FIELDS


@pytest.fixture(scope="module")
def fluent_bit() -> FluentBit:
    return platform_shipper()


def printed_events(**call) -> list[str]:
    """Run the configured event logger (with a stand-in for Superset's DB logger) and collect what it prints."""
    lines: list[str] = []

    class DBEventLogger:
        def log(self, *args, **kwargs):
            lines.append("<db>")

    source = CONFIG_OVERRIDES["event_log"].replace("from superset.utils.log import DBEventLogger\n", "")
    namespace = {"DBEventLogger": DBEventLogger, "print": lambda text, flush=False: lines.append(text)}
    exec(compile(source, "event_log", "exec"), namespace)  # the override exactly as superset_config.py runs it
    namespace["EVENT_LOGGER"].log(**call)
    return [line for line in lines if line != "<db>"]


def test_an_event_becomes_an_audit_document(fluent_bit):
    (line,) = printed_events(user_id=7, action="DashboardRestApi.get", dashboard_id=3, duration_ms=12, slice_id=None,
                             referrer=None, records=[{"path": "/api/v1/dashboard/3"}])
    documents = fluent_bit.run("kube.var.log.containers.superset.log", TIME,
                               {"log": line, "kubernetes": SUPERSET_POD})
    assert [(document.index, document.body) for document in documents] == [(
        "platform-audit-2026.11.20",
        {"timestamp": "2026-11-20T10:15:02.345Z", "source": "superset", "class": "event",
         "action": "DashboardRestApi.get", "actor": "7", "object": "/api/v1/dashboard/3"},
    )]
    body = documents[0].body
    assert set(body) <= set(AUDIT) and all(isinstance(value, str) for value in body.values())


def test_an_anonymous_event_without_a_target_has_no_object():
    (line,) = printed_events(user_id=None, action="health", dashboard_id=None, duration_ms=1, slice_id=None,
                             referrer=None)
    assert json.loads(line) == {"superset_event": "health", "actor": "anonymous"}


def test_other_lines_of_the_namespace_are_not_shipped(fluent_bit):
    for line in ("10.0.0.5 - - [20/Nov/2026:10:15:02] \"GET /health HTTP/1.1\" 200", '{"level": "info"}'):
        assert fluent_bit.run("kube.x", TIME, {"log": line, "kubernetes": SUPERSET_POD}) == []
